public import Control
public import Wire

/// One record of the ingest journal (docs/storage.md).
///
/// `items` is one accepted ingest request: its producer envelope (if any), the reply it got,
/// and its valid items as runs of consecutive offsets per partition. `producers` is the
/// producer table, written at the start of every segment so that removing old segments never
/// forgets a producer.
public enum JournalRecord: Sendable, Equatable {
    case items(Request)
    case producers([ProducerSnapshot])

    public struct Request: Sendable, Equatable {
        public var producer: String?
        public var seq: UInt64
        public var reply: [UInt8]
        public var runs: [Run]

        public init(producer: String?, seq: UInt64, reply: [UInt8], runs: [Run]) {
            self.producer = producer
            self.seq = seq
            self.reply = reply
            self.runs = runs
        }
    }

    /// Items of one partition with consecutive offsets from `firstOffset`.
    public struct Run: Sendable, Equatable {
        public var partition: UInt32
        public var firstOffset: UInt64
        public var items: [Item]

        public init(partition: UInt32, firstOffset: UInt64, items: [Item]) {
            self.partition = partition
            self.firstOffset = firstOffset
            self.items = items
        }
    }

    public struct ProducerSnapshot: Sendable, Equatable {
        public var producer: String
        public var seq: UInt64
        public var reply: [UInt8]

        public init(producer: String, seq: UInt64, reply: [UInt8]) {
            self.producer = producer
            self.seq = seq
            self.reply = reply
        }

        /// Its size in a producers record: producer (u16 length + UTF-8), seq, reply (u32
        /// length + bytes).
        public var encodedSize: Int { 2 + min(producer.utf8.count, Int(UInt16.max)) + 8 + 4 + reply.count }
    }

    static let itemsKind: UInt8 = 1
    static let producersKind: UInt8 = 2

    /// The largest payload a record may have: the reader takes a longer one for corruption.
    public static let maximumPayload = RecordFraming.maximumPayload

    /// The payload's size in bytes, as ``encode(into:)`` writes it.
    public var payloadSize: Int {
        switch self {
        case .items(let request):
            var size = 1 + 2 + min(request.producer?.utf8.count ?? 0, Int(UInt16.max)) + 8 + 4 + request.reply.count + 4
            for run in request.runs {
                size += 4 + 8 + 4
                for item in run.items { size += ItemCodec.size(of: item) }
            }
            return size
        case .producers(let producers):
            return producers.reduce(1 + 4) { $0 + $1.encodedSize }
        }
    }

    /// Writes this record, framed, onto `writer`; refuses (writing nothing) a record whose
    /// payload exceeds ``maximumPayload``.
    public func encode(into writer: inout ByteWriter) throws(StorageError) {
        try RecordFraming.append(to: &writer, length: payloadSize) { w in
            switch self {
            case .items(let request):
                w.write(Self.itemsKind)
                w.write(string: request.producer ?? "")
                w.write(request.seq)
                w.write(blob: request.reply)
                w.write(UInt32(request.runs.count))
                for run in request.runs {
                    w.write(run.partition)
                    w.write(run.firstOffset)
                    w.write(UInt32(run.items.count))
                    for item in run.items { ItemCodec.write(item, into: &w) }
                }
            case .producers(let producers):
                w.write(Self.producersKind)
                w.write(UInt32(producers.count))
                for entry in producers {
                    w.write(string: entry.producer)
                    w.write(entry.seq)
                    w.write(blob: entry.reply)
                }
            }
        }
    }

    /// Reads a record's payload (its frame already checked).
    static func decode(_ bytes: [UInt8], _ range: Range<Int>) throws(DecodeError) -> JournalRecord {
        var r = ByteReader(bytes, position: range.lowerBound)
        let kind: UInt8 = try r.read()
        switch kind {
        case itemsKind:
            let producer = try r.readString()
            let seq: UInt64 = try r.read()
            let reply = try r.readBlob(limit: range.count)
            let runCount = try r.readCount(minimumElementSize: 16)
            var runs: [Run] = []
            runs.reserveCapacity(runCount)
            for _ in 0..<runCount {
                let partition: UInt32 = try r.read()
                let firstOffset: UInt64 = try r.read()
                let count = try r.readCount(minimumElementSize: ItemCodec.readingSize)
                var items: [Item] = []
                items.reserveCapacity(count)
                for _ in 0..<count { items.append(try ItemCodec.read(&r)) }
                runs.append(Run(partition: partition, firstOffset: firstOffset, items: items))
            }
            return .items(Request(producer: producer.isEmpty ? nil : producer, seq: seq, reply: reply, runs: runs))
        case producersKind:
            let count = try r.readCount(minimumElementSize: 14)
            var entries: [ProducerSnapshot] = []
            for _ in 0..<count {
                entries.append(ProducerSnapshot(producer: try r.readString(), seq: try r.read(), reply: try r.readBlob(limit: range.count)))
            }
            return .producers(entries)
        default:
            throw DecodeError("unknown journal record kind \(kind)")
        }
    }
}
