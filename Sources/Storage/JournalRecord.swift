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

    /// An accepted request as it is journaled. Its items are held flat, run after run (one
    /// array, not one per run: with thousands of partitions a request has thousands of runs).
    public struct Request: Sendable, Equatable {
        public var producer: String?
        public var seq: UInt64
        public var reply: [UInt8]
        /// Every run's items, run after run.
        public private(set) var items: [Item]
        /// The runs in order; each one's items are the next `count` of ``items``.
        public private(set) var spans: [Span]
        /// What ``items`` take on disk.
        public private(set) var itemBytes: Int

        /// A run without its items: partition, first offset, how many.
        public struct Span: Sendable, Equatable {
            public var partition: UInt32
            public var firstOffset: UInt64
            public var count: Int

            public init(partition: UInt32, firstOffset: UInt64, count: Int) {
                self.partition = partition
                self.firstOffset = firstOffset
                self.count = count
            }
        }

        /// `items` grouped into `spans` (their counts add up to `items.count`).
        public init(producer: String?, seq: UInt64, reply: [UInt8], items: [Item], spans: [Span], itemBytes: Int? = nil) {
            precondition(spans.reduce(0) { $0 + $1.count } == items.count, "spans must cover the items")
            self.producer = producer
            self.seq = seq
            self.reply = reply
            self.items = items
            self.spans = spans
            self.itemBytes = itemBytes ?? items.reduce(0) { $0 + ItemCodec.size(of: $1) }
        }

        public init(producer: String?, seq: UInt64, reply: [UInt8], runs: [Run]) {
            self.init(producer: producer, seq: seq, reply: reply, items: runs.flatMap(\.items),
                      spans: runs.map { Span(partition: $0.partition, firstOffset: $0.firstOffset, count: $0.items.count) })
        }

        /// The runs with their items (a copy of each run's items).
        public var runs: [Run] {
            var start = 0
            return spans.map { span in
                defer { start += span.count }
                return Run(partition: span.partition, firstOffset: span.firstOffset, items: Array(items[start..<(start + span.count)]))
            }
        }

        /// Calls `body` with each run's span and its items, in order, without copying them.
        public func forEachRun(_ body: (Span, ArraySlice<Item>) throws -> Void) rethrows {
            var start = 0
            for span in spans {
                try body(span, items[start..<(start + span.count)])
                start += span.count
            }
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
            return Self.itemsPayloadSize(producer: request.producer, reply: request.reply.count, runs: request.spans.count, itemBytes: request.itemBytes)
        case .producers(let producers):
            return producers.reduce(1 + 4) { $0 + $1.encodedSize }
        }
    }

    /// The payload size of an items record, from its parts: envelope, runs and item bytes.
    public static func itemsPayloadSize(producer: String?, reply: Int, runs: Int, itemBytes: Int) -> Int {
        1 + 2 + min(producer?.utf8.count ?? 0, Int(UInt16.max)) + 8 + 4 + reply + 4 + runs * (4 + 8 + 4) + itemBytes
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
                w.write(UInt32(request.spans.count))
                request.forEachRun { span, items in
                    w.write(span.partition)
                    w.write(span.firstOffset)
                    w.write(UInt32(span.count))
                    for item in items { ItemCodec.write(item, into: &w) }
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
            var spans: [Request.Span] = []
            spans.reserveCapacity(runCount)
            var items: [Item] = []
            let itemsStart = r.position
            for _ in 0..<runCount {
                let partition: UInt32 = try r.read()
                let firstOffset: UInt64 = try r.read()
                let count = try r.readCount(minimumElementSize: ItemCodec.readingSize)
                items.reserveCapacity(items.count + count)
                for _ in 0..<count { items.append(try ItemCodec.read(&r)) }
                spans.append(Request.Span(partition: partition, firstOffset: firstOffset, count: count))
            }
            let itemBytes = r.position - itemsStart - runCount * 16
            return .items(Request(producer: producer.isEmpty ? nil : producer, seq: seq, reply: reply, items: items, spans: spans, itemBytes: itemBytes))
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
