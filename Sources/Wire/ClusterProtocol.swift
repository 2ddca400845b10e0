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
/// frame, is written as version 1. Both versions are read.
public enum ClusterProtocol {
    /// The newest version this build reads and writes.
    public static let version: UInt8 = 2
    /// The oldest version this build reads.
    public static let oldestVersion: UInt8 = 1
    static let magic: [UInt8] = [0xFE, 0x54, 0x43]
    /// The largest cluster frame accepted, either way. A poll carries at most ~256k sensors of
    /// checkpoints and a reply at most ~32 MiB of partition states, so this leaves room for one
    /// partition of up to ``maximumPartitionSensors``. nng allocates a frame's whole announced
    /// size when its header arrives, so this is also what one connection can make a peer hold.
    public static let maximumFrameSize = 64 << 20
    /// The most sensors one partition may hold: its state must fit in one frame.
    public static let maximumPartitionSensors = (maximumFrameSize - (1 << 20)) / CheckpointCodec.entrySize
}

public struct Hello: Sendable, Hashable {
    public var worker: String
    public init(worker: String) { self.worker = worker }
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

/// Consecutive items of one partition, the first at `firstOffset`.
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
    public var assigns: [Assign]
    public var batches: [Batch]
    /// Release these after processing the batches above.
    public var revokes: [PartitionEpoch]
    /// The worker's leave is complete: it may exit.
    public var goodbye: Bool
    public init(assigns: [Assign] = [], batches: [Batch] = [], revokes: [PartitionEpoch] = [], goodbye: Bool = false) {
        self.assigns = assigns
        self.batches = batches
        self.revokes = revokes
        self.goodbye = goodbye
    }
    public var isEmpty: Bool { assigns.isEmpty && batches.isEmpty && revokes.isEmpty && !goodbye }
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
