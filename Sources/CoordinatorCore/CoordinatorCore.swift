public import Cluster
public import Control
public import Storage
public import Wire

/// Every decision the coordinator makes, as a value: events in, directives out.
///
/// In the shape of swift-cluster-membership's `SWIM.Instance`: the shell (the `Coordinator`
/// actor) feeds it events (a hello, a poll, a leave, a lost connection, a tick with the time,
/// a drain, a decoded ingest request, a written batch) and carries out what comes back: the
/// event's reply, a poll to park, ``CoordinatorAction``s from ``takeActions()`` (answer a
/// parked poll, log a line), a ``CommitBatch`` to write (``startWrite()``), feed messages to
/// publish. It owns membership, the partition table, the partition logs and their offsets,
/// the `published` marks and the command-suppression rule, checkpoint acceptance, the producer
/// table's decisions and the counters. It knows nothing of sockets, files, clocks or
/// continuations: time comes in as a number, so tests drive it step by step
/// (Tests/CoordinatorTests).
///
/// The logic is split by concern: ingest and group commit (CoordinatorCore+Ingest.swift),
/// the cluster protocol (CoordinatorCore+Cluster.swift), work for workers
/// (CoordinatorCore+Work.swift), drain and status (CoordinatorCore+Admin.swift).
public struct CoordinatorCore: Sendable {
    public let settings: CoreSettings
    public let partitioner: Partitioner

    public internal(set) var membership: Membership
    public internal(set) var table: PartitionTable
    public internal(set) var logs: [PartitionLog]
    public internal(set) var checkpoints: [PartitionSnapshot?]
    var checkpointTimes: [Nanoseconds?]
    public internal(set) var counters = Counters()
    /// Items accepted and not yet covered by a checkpoint.
    public internal(set) var buffered = 0

    /// Work decided for a worker and not yet handed to it.
    var pendingAssigns: [WorkerID: [Assign]] = [:]
    var pendingRevokes: [WorkerID: [PartitionEpoch]] = [:]
    /// Per worker, the partitions it owns that may have durable items it has not processed, in
    /// the order it is served: what `takeWork` walks, rather than every partition the worker
    /// holds (a poll at P=4096 looked at 2,048 partitions to find the few with items).
    var deliverable: [WorkerID: [Int]] = [:]
    /// Per partition, the worker whose `deliverable` list holds it (nil: none); an entry in a
    /// list that this does not name is stale and dropped when met.
    var deliverableFor: [WorkerID?]
    /// Polls held by the shell, per worker: the incarnation that sent it and until when.
    var parked: [WorkerID: (incarnation: UInt64, deadline: Nanoseconds)] = [:]
    /// Which member each cluster connection belongs to, so a lost connection is a lost worker.
    var pipes: [UInt32: (worker: WorkerID, incarnation: UInt64)] = [:]
    /// Partitions between owners: since when they have not been processed.
    var pausedSince: [Int: Nanoseconds] = [:]
    /// Partitions whose new owner got its assignment, until that owner's next poll (it has
    /// then restored the state and processed the waiting items).
    var resuming: [WorkerID: [Int]] = [:]
    var pauses = PauseRecorder()
    public internal(set) var running = true
    var actions: [CoordinatorAction] = []
    /// Scratch for grouping a request's items by partition: -1 for every partition between uses.
    var runScratch: [Int32]

    // Group commit.
    var pending = CommitBatch()
    /// The pending batch's number; batches up to `written` are on disk.
    public internal(set) var batchNumber: UInt64 = 1
    public internal(set) var written: UInt64 = 0
    public internal(set) var writing = false

    // Idempotent producers.
    public internal(set) var producers: ProducerTable
    /// The batch holding each producer's last request, while that batch is not written yet.
    var producerBatch: [String: UInt64] = [:]

    /// The end of the command log as decided (commands appended to the pending batches).
    public internal(set) var commandEnd: UInt64
    /// The end of the command log as written to disk.
    public internal(set) var writtenCommandEnd: UInt64

    public init(settings: CoreSettings, stored: StoredState) {
        precondition(stored.logs.count == settings.partitionCount, "stored state of another partition count")
        self.settings = settings
        partitioner = Partitioner(count: settings.partitionCount)
        runScratch = Array(repeating: -1, count: settings.partitionCount)
        deliverableFor = Array(repeating: nil, count: settings.partitionCount)
        logs = stored.logs
        checkpoints = stored.checkpoints
        checkpointTimes = Array(repeating: nil, count: settings.partitionCount)
        producers = stored.producers
        commandEnd = stored.commandEnd
        writtenCommandEnd = stored.commandEnd
        buffered = logs.reduce(0) { $0 + $1.items.count }
        // Epochs continue above the highest stored one and incarnations above the first given
        // (the shell's wall clock), so nothing from before a restart looks current.
        let highestEpoch = stored.checkpoints.compactMap { $0?.epoch }.max() ?? 0
        table = PartitionTable(partitionCount: settings.partitionCount, startEpoch: highestEpoch)
        membership = Membership(heartbeatTimeout: settings.heartbeatTimeout, firstIncarnation: settings.firstIncarnation)
    }

    /// The directives decided since the last call, in order.
    public mutating func takeActions() -> [CoordinatorAction] {
        defer { actions.removeAll() }
        return actions
    }

    mutating func log(_ level: Notice.Level, rateKey: String? = nil, _ message: String, _ metadata: [String: String] = [:]) {
        actions.append(.log(Notice(level, rateKey: rateKey, message, metadata: metadata)))
    }

    /// Stops taking work and answers every held poll. Idempotent.
    public mutating func shutdown() {
        guard running else { return }
        running = false
        for worker in parked.keys.sorted() { actions.append(.answer(worker, .work(Work()))) }
        parked.removeAll()
    }

    /// Whether anything decided is not on disk yet.
    public var hasUnwritten: Bool { writing || !pending.isEmpty }

    public mutating func countMalformedFrame() { counters.malformedFrames += 1 }
    public mutating func countRejectedRequest() { counters.rejectedRequests += 1 }
}
