import Wire

/// The ingest journal: every accepted request, appended before it is acknowledged, in segment
/// files under `journal/` named by their sequence number (`00000000000000000001.log`).
///
/// One journal for all partitions, not one file per partition: a group commit is one write and
/// one fsync however many partitions it touches, and a request's items across partitions land
/// in one checksummed record, so a crash keeps all of a request or none of it (which is what
/// makes a producer's retry safe). Each partition's log is the subsequence of runs with its
/// number; offsets count per partition.
///
/// Each segment opens with the producer table (at most ``ProducerTable/defaultByteLimit`` plus a
/// few bytes) and starts a new file once the records after that table reach `segmentBytes`, or
/// the table's own size if larger: a big table is rewritten at most once per as many bytes of
/// requests, never on every append.
///
/// Retention: a segment is removed once every partition's items in it lie below the offset
/// that partition's recovery starts from (the older of its two newest checkpoints), so disk use
/// follows the checkpoint interval, not the uptime.
///
/// Confined to the disk thread: every method blocks.
public final class IngestJournal {
    public let directory: String
    public let segmentBytes: Int
    private var segments: [Segment] = []
    private var active: File?
    /// The size of the producer table record opening the active segment.
    private var activeSnapshotBytes = 0
    /// The producer table as the journal has written it, for the snapshot opening each segment.
    private var producers = ProducerTable()

    struct Segment {
        let number: UInt64
        /// Per partition, the end (last offset + 1) of its items in this segment.
        var ends: [UInt32: UInt64] = [:]
    }

    init(directory: String, segmentBytes: Int) {
        self.directory = directory
        self.segmentBytes = segmentBytes
    }

    func path(_ number: UInt64) -> String {
        "\(directory)/\(FileSystem.padded(number, width: 20)).log"
    }

    /// What recovery found.
    public struct Recovery: Sendable {
        public var records = 0
        public var segments = 0
        public var producers = ProducerTable()
        /// Problems found and how they were dealt with, for the log.
        public var notes: [String] = []
    }

    /// Opens the journal, reading every intact record in order (`visit` gets each request's
    /// runs). A torn tail is cut off; a damaged segment ends the journal there, and later
    /// segments are set aside as `*.damaged`.
    public static func open(
        directory: String, segmentBytes: Int, visit: (JournalRecord.Request) -> Void
    ) throws(StorageError) -> (IngestJournal, Recovery) {
        try FileSystem.createDirectory(directory)
        let journal = IngestJournal(directory: directory, segmentBytes: segmentBytes)
        var recovery = Recovery()
        let numbers = try FileSystem.list(directory).compactMap { name -> UInt64? in
            guard name.hasSuffix(".log") else { return nil }
            return UInt64(name.dropLast(4))
        }
        var damagedAt: Int?
        for (index, number) in numbers.enumerated() {
            let file = try File(path: journal.path(number), create: false)
            let bytes = try file.readAll()
            let scan = RecordFraming.scan(bytes)
            var segment = Segment(number: number)
            var snapshotBytes = 0
            var decodeFailure: String?
            var validLength = scan.validLength
            for range in scan.records {
                let record: JournalRecord
                do {
                    record = try JournalRecord.decode(bytes, range)
                } catch {
                    decodeFailure = "an unreadable record at byte \(range.lowerBound - RecordFraming.headerSize): \(error)"
                    validLength = range.lowerBound - RecordFraming.headerSize
                    break
                }
                recovery.records += 1
                switch record {
                case .producers(let entries):
                    if range.lowerBound == RecordFraming.headerSize { snapshotBytes = range.count + RecordFraming.headerSize }
                    for entry in entries { recovery.producers.record(producer: entry.producer, seq: entry.seq, reply: entry.reply) }
                case .items(let request):
                    if let producer = request.producer {
                        recovery.producers.record(producer: producer, seq: request.seq, reply: request.reply)
                    }
                    for span in request.spans {
                        segment.ends[span.partition] = max(segment.ends[span.partition] ?? 0, span.firstOffset + UInt64(span.count))
                    }
                    visit(request)
                }
            }
            journal.segments.append(segment)
            journal.activeSnapshotBytes = snapshotBytes
            recovery.segments += 1
            if let damage = decodeFailure ?? scan.damage {
                let cut = bytes.count - validLength
                if index == numbers.count - 1 {
                    recovery.notes.append("journal segment \(number): \(damage); cut off the last \(cut) bytes (a torn write: never acknowledged)")
                } else {
                    recovery.notes.append("journal segment \(number): \(damage); recovered up to it, and set the \(numbers.count - index - 1) later segments aside as *.damaged")
                }
                try file.truncate(to: validLength)
                try file.sync()
                damagedAt = index
                break
            }
        }
        if let damagedAt {
            for number in numbers[(damagedAt + 1)...] {
                try FileSystem.rename(journal.path(number), to: journal.path(number) + ".damaged")
            }
        }
        journal.producers = recovery.producers
        if let last = journal.segments.last {
            journal.active = try File(path: journal.path(last.number), create: false)
        }
        return (journal, recovery)
    }

    /// Appends encoded records (a group commit) that hold `ends` per partition and record
    /// `updates` in the producer table. Starts a new segment first if the active one is full:
    /// its records after the opening producer table reach `segmentBytes`, or the table's size
    /// if that is larger.
    public func append(_ bytes: [UInt8], ends: [UInt32: UInt64], updates: [JournalRecord.ProducerSnapshot]) throws(StorageError) {
        guard !bytes.isEmpty else { return }
        if let active {
            let records = active.size - activeSnapshotBytes
            if records >= max(segmentBytes, activeSnapshotBytes) { try roll() }
        } else {
            try roll()
        }
        try active!.append(bytes)
        for (partition, end) in ends {
            segments[segments.count - 1].ends[partition] = max(segments[segments.count - 1].ends[partition] ?? 0, end)
        }
        for update in updates { producers.record(producer: update.producer, seq: update.seq, reply: update.reply) }
    }

    /// Starts a new segment that opens with the producer table.
    private func roll() throws(StorageError) {
        let record = JournalRecord.producers(producers.snapshot())
        var writer = ByteWriter(capacity: record.payloadSize + RecordFraming.headerSize)
        try record.encode(into: &writer)
        try active?.sync()
        let number = (segments.last?.number ?? 0) + 1
        let file = try File(path: path(number), create: true)
        try file.append(writer.finish())
        FileSystem.syncDirectory(directory)
        segments.append(Segment(number: number))
        active = file
        activeSnapshotBytes = writer.count
    }

    public func sync() throws(StorageError) { try active?.sync() }

    /// Removes the segments, oldest first and never the active one, whose items every
    /// partition's recovery no longer needs. Returns how many.
    @discardableResult
    public func removeSegments(retainingFrom retain: (UInt32) -> UInt64) throws(StorageError) -> Int {
        var removed = 0
        while segments.count > 1, segments[0].ends.allSatisfy({ retain($0.key) >= $0.value }) {
            try FileSystem.remove(path(segments[0].number))
            segments.removeFirst()
            removed += 1
        }
        if removed > 0 { FileSystem.syncDirectory(directory) }
        return removed
    }

    public var segmentCount: Int { segments.count }
}
