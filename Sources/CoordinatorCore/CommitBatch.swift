public import Storage
public import Wire

/// What one group commit writes: journal records, commands and checkpoints, in that order.
///
/// The core decides what goes in (``CoordinatorCore/admit(_:now:)``, results, checkpoints);
/// the shell's disk writer encodes and writes it.
public struct CommitBatch: Sendable {
    /// Accepted ingest requests, in acceptance order (each one journal record).
    public var journal: [JournalRecord.Request] = []
    /// Per partition, the end of its items in `journal`.
    public var journalEnds: [UInt32: UInt64] = [:]
    public var producerUpdates: [JournalRecord.ProducerSnapshot] = []
    public var commands: [CommandRecord] = []
    public var checkpoints: [PartitionSnapshot] = []

    public init() {}

    public var isEmpty: Bool { journal.isEmpty && commands.isEmpty && checkpoints.isEmpty }
}

/// What the disk reports about a written batch (for the status counters).
public struct WriteReport: Sendable {
    public var synced = false
    public var removedSegments = 0
    public var journalSegments = 0
    /// The oldest offset the command log keeps after the write.
    public var commandLogStart: UInt64 = 0

    public init(synced: Bool = false, removedSegments: Int = 0, journalSegments: Int = 0) {
        self.synced = synced
        self.removedSegments = removedSegments
        self.journalSegments = journalSegments
    }
}
