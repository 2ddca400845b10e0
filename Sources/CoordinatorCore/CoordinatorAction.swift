public import Cluster
public import Wire

/// What the shell must do after an event, beyond the event's own reply.
public enum CoordinatorAction: Sendable, Equatable {
    /// Answer the worker's parked poll (``PollOutcome/park(deadline:)``) with this reply.
    case answer(WorkerID, ClusterReply)
    /// Write a line to the log.
    case log(Notice)
}

/// A line for the log. `rateKey` set: at most one such line a second per key (bad input from
/// peers, which must not flood the log).
public struct Notice: Sendable, Equatable {
    public enum Level: Sendable, Equatable { case debug, info, warning }
    public var level: Level
    public var rateKey: String?
    public var message: String
    public var metadata: [String: String]

    public init(_ level: Level, rateKey: String? = nil, _ message: String, metadata: [String: String] = [:]) {
        self.level = level
        self.rateKey = rateKey
        self.message = message
        self.metadata = metadata
    }
}

/// What to do with a poll.
public enum PollOutcome: Sendable, Equatable {
    /// Answer it now.
    case reply(ClusterReply)
    /// Hold it: the core answers it with ``CoordinatorAction/answer(_:_:)`` when there is work,
    /// at ``CoordinatorCore/tick(now:)`` past `deadline`, or at shutdown.
    case park(deadline: Nanoseconds)
}

/// What to do with a decoded ingest request.
public enum Admission: Sendable, Equatable {
    /// Answer with these bytes now (a refusal; nothing was appended).
    case refused([UInt8])
    /// Answer with these bytes once group commit `batch` is on disk (nil: at once).
    case reply([UInt8], afterBatch: UInt64?)
}

/// The numbers a core starts with (the shell converts its durations).
public struct CoreSettings: Sendable {
    public var partitionCount: Int
    public var heartbeatTimeout: Nanoseconds
    /// How long a poll is held without work: the heartbeat period.
    public var pollWait: Nanoseconds
    /// Told to workers in their welcome.
    public var checkpointIntervalMilliseconds: UInt32
    public var maxBufferedItems: Int
    public var maxBatchItems: Int
    /// Where incarnation numbers start: above any an earlier coordinator handed out.
    public var firstIncarnation: UInt64
    /// The join token every hello must carry (`--token-file`); nil: none is required.
    public var joinToken: [UInt8]?

    public init(
        partitionCount: Int, heartbeatTimeout: Nanoseconds, pollWait: Nanoseconds, checkpointIntervalMilliseconds: UInt32,
        maxBufferedItems: Int, maxBatchItems: Int, firstIncarnation: UInt64, joinToken: [UInt8]? = nil
    ) {
        self.joinToken = joinToken
        self.partitionCount = partitionCount
        self.heartbeatTimeout = heartbeatTimeout
        self.pollWait = pollWait
        self.checkpointIntervalMilliseconds = checkpointIntervalMilliseconds
        self.maxBufferedItems = maxBufferedItems
        self.maxBatchItems = maxBatchItems
        self.firstIncarnation = firstIncarnation
    }
}
