public import Control

/// The cluster protocol between workers and the coordinator.
///
/// A worker holds one nng REQ socket dialled to the coordinator's cluster address; the
/// coordinator answers on a REP socket with one context per outstanding request. Every
/// exchange is a worker request and one coordinator reply:
///
/// - `hello` registers a worker; the reply is `welcome` (with its incarnation and the
///   cluster's parameters) or `refused` with a reason (wrong protocol version, bad name).
/// - `poll` carries everything the worker has for the coordinator (results with commands,
///   checkpoints, releases) and asks for work. The coordinator holds it until it has work for
///   the worker (assignments, revocations, item batches) or the long-poll wait runs out, so a
///   poll is also the worker's heartbeat.
/// - `leave` asks to leave; the coordinator revokes the worker's partitions and the worker keeps
///   polling until a reply says `goodbye`.
///
/// A reply of `fenced` means the coordinator no longer knows this incarnation (it was declared
/// dead, or the coordinator restarted): the worker drops all its partitions and registers anew.
///
/// Frames: magic `0xFE 'T' 'C'`, protocol version (u8), message kind (u8), then the body;
/// little-endian throughout. See docs/protocol.md.
///
/// Versions: a frame is written in the oldest version that can carry it, so that a peer of an
/// older version understands everything it can. Version 2 adds one thing, the partitions a
/// worker could not restore at the end of a poll; a poll that reports none, and every other
/// frame, is written as version 1. Version 3 adds the join token at the end of a hello; a
/// hello without one is written as version 1. Every version is read.
public enum ClusterProtocol {
    /// The newest version this build reads and writes.
    public static let version: UInt8 = 3
    /// The oldest version this build reads.
    public static let oldestVersion: UInt8 = 1
    static let magic: [UInt8] = [0xFE, 0x54, 0x43]
    /// The most bytes one partition's state (checkpoint or assignment) may take: a reply's
    /// whole budget for assignments (``CoordinatorCore``'s `takeWork` sends states up to this
    /// much per reply, at least one), so that no state needs a reply of its own that is larger.
    public static let maximumPartitionStateBytes = 32 << 20
    /// How many bytes of partition states one reply carries when it can split them (a reply
    /// carries at least one state, however large): 4 MiB, about 127,000 sensors. A worker
    /// taking over a million sensors restores them over several polls, each a few
    /// milliseconds of decoding, rather than in one reply that takes it longer than the
    /// heartbeat timeout to fetch and decode (under load, that got the survivor declared dead
    /// in the middle of a failover, which then moved everything again).
    public static let restoreBytesPerReply = 4 << 20
    /// The most items the batches of one reply carry (the coordinator's `maxBatchItems`).
    public static let maximumReplyItems = 16_384
    /// The largest reply a worker accepts: what a reply can actually hold, with room to spare.
    /// Assignments: at most ``maximumPartitionStateBytes`` of states (32 MiB), plus 24 bytes
    /// each (partition, epoch, offset, length) for at most 65,536 partitions (1.5 MiB); batches:
    /// at most ``maximumReplyItems`` items of at most 33 bytes (0.5 MiB) plus 24 bytes per
    /// partition (1.5 MiB); revocations: 12 bytes per partition (0.75 MiB); the header and
    /// counts: a few bytes. In all under 36.3 MiB: 37 MiB. (nng allocates a frame's whole
    /// announced size when its header arrives: this is what a coordinator can make a worker hold.)
    public static let maximumReplySize = maximumPartitionStateBytes + (5 << 20)
    /// The largest poll the coordinator accepts: its checkpoints are bounded by the worker's
    /// checkpoint budget (128k sensors, 4.1 MiB, or one partition of up to 32 MiB), but a
    /// revocation's final checkpoints ride in one poll together (a drain revokes every partition of
    /// the worker at once), so polls keep the 64 MiB of earlier builds: one connection can make
    /// the coordinator hold this much at a time, bounded in all by `--max-cluster-connections`
    /// and the silent-connection timeout; with mutual TLS only certified workers get that far.
    public static let maximumPollSize = 64 << 20
    /// The largest cluster frame accepted, either way (the larger of the two).
    public static let maximumFrameSize = max(maximumReplySize, maximumPollSize)
    /// The most sensors one partition may hold: its state must fit in ``maximumPartitionStateBytes``.
    public static let maximumPartitionSensors = (maximumPartitionStateBytes - 64) / CheckpointCodec.entrySize
}

public struct Hello: Sendable, Hashable {
    public var worker: String
    /// The cluster's join token (`--token-file`), if the worker has one (protocol version 3).
    public var token: String?
    public init(worker: String, token: String? = nil) {
        self.worker = worker
        self.token = token
    }
}

public struct Welcome: Sendable, Hashable {
    public var incarnation: UInt64
    public var partitionCount: UInt32
    /// How long the coordinator may hold a poll; the worker polls again at once after a reply.
    public var pollWaitMilliseconds: UInt32
    public var checkpointIntervalMilliseconds: UInt32
    public init(incarnation: UInt64, partitionCount: UInt32, pollWaitMilliseconds: UInt32, checkpointIntervalMilliseconds: UInt32) {
        self.incarnation = incarnation
        self.partitionCount = partitionCount
        self.pollWaitMilliseconds = pollWaitMilliseconds
        self.checkpointIntervalMilliseconds = checkpointIntervalMilliseconds
    }
}

/// A command a worker's controller produced, named by the input offset that caused it.
public struct ProducedCommand: Sendable, Hashable {
    public var inputOffset: UInt64
    public var sensor: SensorID
    public var action: HeaterAction
    public init(inputOffset: UInt64, sensor: SensorID, action: HeaterAction) {
        self.inputOffset = inputOffset
        self.sensor = sensor
        self.action = action
    }
}

/// What a worker did with a partition's items since its last poll.
public struct PartitionResult: Sendable, Hashable {
    public var partition: UInt32
    public var epoch: UInt64
    /// Every item below this offset is processed.
    public var nextOffset: UInt64
    public var commands: [ProducedCommand]
    /// Readings dropped because their sensor had no setting yet.
    public var droppedNoSetting: UInt32
    public init(partition: UInt32, epoch: UInt64, nextOffset: UInt64, commands: [ProducedCommand] = [], droppedNoSetting: UInt32 = 0) {
        self.partition = partition
        self.epoch = epoch
        self.nextOffset = nextOffset
        self.commands = commands
        self.droppedNoSetting = droppedNoSetting
    }
}

/// A partition and the epoch of its ownership.
public struct PartitionEpoch: Sendable, Hashable {
    public var partition: UInt32
    public var epoch: UInt64
    public init(partition: UInt32, epoch: UInt64) {
        self.partition = partition
        self.epoch = epoch
    }
}

/// An assignment the worker could not carry out: the state it came with does not restore
/// (it does not decode, or is of another partition or offset). The worker does not hold the
/// partition; the coordinator gives it to another worker.
public struct Unrestored: Sendable, Hashable {
    public var partition: UInt32
    public var epoch: UInt64
    public var reason: String
    public init(partition: UInt32, epoch: UInt64, reason: String) {
        self.partition = partition
        self.epoch = epoch
        self.reason = reason
    }
}

public struct Poll: Sendable, Hashable {
    public var worker: String
    public var incarnation: UInt64
    public var results: [PartitionResult]
    public var checkpoints: [Checkpoint]
    /// Partitions let go after a revocation (their final checkpoint is in `checkpoints`).
    public var released: [PartitionEpoch]
    /// Assignments the worker could not restore (protocol version 2; a version-1 poll has none).
    public var unrestored: [Unrestored]
    public init(worker: String, incarnation: UInt64, results: [PartitionResult] = [], checkpoints: [Checkpoint] = [], released: [PartitionEpoch] = [], unrestored: [Unrestored] = []) {
        self.worker = worker
        self.incarnation = incarnation
        self.results = results
        self.checkpoints = checkpoints
        self.released = released
        self.unrestored = unrestored
    }
}

/// Consecutive items of one partition, the first at `firstOffset` (a value to build or look at
/// a reply with; a ``Work`` holds its batches as ``Work/runs`` over one array of items).
public struct Batch: Sendable, Hashable {
    public var partition: UInt32
    public var epoch: UInt64
    public var firstOffset: UInt64
    public var items: [Item]
    public init(partition: UInt32, epoch: UInt64, firstOffset: UInt64, items: [Item]) {
        self.partition = partition
        self.epoch = epoch
        self.firstOffset = firstOffset
        self.items = items
    }
}

public struct Work: Sendable, Hashable {
    /// A batch's place in ``Work/items``: `count` consecutive items of `partition`, the first at
    /// `firstOffset`, right after the previous run's.
    public struct Run: Sendable, Hashable {
        public var partition: UInt32
        public var epoch: UInt64
        public var firstOffset: UInt64
        public var count: Int
        @inlinable init(partition: UInt32, epoch: UInt64, firstOffset: UInt64, count: Int) {
            self.partition = partition
            self.epoch = epoch
            self.firstOffset = firstOffset
            self.count = count
        }
    }

    public var assigns: [Assign]
    /// The item batches, one run per partition, their items one after another in ``items``:
    /// one array for every partition of the reply rather than one per partition (at P=4096 a
    /// reply carries a thousand batches of one or two items each, and an array apiece was most
    /// of the per-partition cost on both ends).
    public var runs: [Run] { _runs }
    public var items: [Item] { _items }
    @usableFromInline var _runs: [Run] = []
    @usableFromInline var _items: [Item] = []
    /// Release these after processing the batches above.
    public var revokes: [PartitionEpoch]
    /// The worker's leave is complete: it may exit.
    public var goodbye: Bool
    public init(assigns: [Assign] = [], batches: [Batch] = [], revokes: [PartitionEpoch] = [], goodbye: Bool = false) {
        self.assigns = assigns
        self.revokes = revokes
        self.goodbye = goodbye
        for batch in batches { appendBatch(partition: batch.partition, epoch: batch.epoch, firstOffset: batch.firstOffset, items: batch.items) }
    }

    public var isEmpty: Bool { assigns.isEmpty && runs.isEmpty && revokes.isEmpty && !goodbye }

    /// Adds a batch: `items`, consecutive items of `partition` from `firstOffset` on.
    /// (Inlinable: specialized where it is called, an item is copied, not passed through the
    /// collection's witness table; unspecialized, this cost a third of the throughput.)
    @inlinable
    public mutating func appendBatch(partition: UInt32, epoch: UInt64, firstOffset: UInt64, items batch: some Collection<Item>) {
        _runs.append(Run(partition: partition, epoch: epoch, firstOffset: firstOffset, count: batch.count))
        _items.append(contentsOf: batch)
    }

    /// Calls `body` with each batch's run and its items, in order.
    public func forEachBatch<E: Error>(_ body: (Run, ArraySlice<Item>) throws(E) -> Void) throws(E) {
        var start = 0
        for run in runs {
            try body(run, items[start..<start + run.count])
            start += run.count
        }
    }

    /// The batches as values (for tests and inspection; the hot paths use ``forEachBatch(_:)``).
    public var batches: [Batch] {
        var batches: [Batch] = []
        forEachBatch { run, items in
            batches.append(Batch(partition: run.partition, epoch: run.epoch, firstOffset: run.firstOffset, items: Array(items)))
        }
        return batches
    }
}

public enum ClusterRequest: Sendable, Hashable {
    case hello(Hello)
    case poll(Poll)
    case leave(worker: String, incarnation: UInt64)
}

public enum ClusterReply: Sendable, Hashable {
    case welcome(Welcome)
    case work(Work)
    case fenced(reason: String)
    case refused(reason: String)
}

extension ClusterReply {
    /// How the reason of a `refused` reply to a hello starts when a live worker holds the name
    /// on another connection. Unlike other refusals it is not final: the name is free once that
    /// worker's connection closes or its heartbeat times out, so the newcomer says hello again
    /// after a pause (a restarted worker whose old process is not yet declared dead).
    public static let nameInUsePrefix = "name in use"

    /// A refusal of a hello because a live worker holds the name; `detail` says which.
    public static func nameInUse(_ detail: String) -> ClusterReply {
        .refused(reason: "\(nameInUsePrefix): \(detail)")
    }

    /// Whether this refuses a hello because the name is in use (retry later, see
    /// ``nameInUsePrefix``) rather than for good.
    public var isNameInUse: Bool {
        if case .refused(let reason) = self { reason.hasPrefix(Self.nameInUsePrefix) } else { false }
    }
}

/// Why a cluster frame was not accepted; `unsupportedVersion` gets its own reason for the peer.
public enum FrameError: Error, Sendable, Hashable, CustomStringConvertible {
    case notAClusterFrame
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    case malformed(String)

    public var description: String {
        switch self {
        case .notAClusterFrame: "not a thermoshard cluster frame (bad magic)"
        case .unsupportedVersion(let v):
            "unsupported cluster protocol version \(v) (this build speaks \(ClusterProtocol.oldestVersion) to \(ClusterProtocol.version))"
        case .unknownKind(let k): "unknown cluster message kind \(k)"
        case .malformed(let why): "malformed cluster frame: \(why)"
        }
    }
}
