/// The admin protocol: JSON requests and replies on the coordinator's admin REP socket, used by
/// `thermoshard status` and `thermoshard drain` and by any program (see docs/protocol.md).
///
/// Requests: `{"command":"status"}` (reply: a ``StatusReport``);
/// `{"command":"drain","worker":"w1","force":false}` (reply: `{"ok":"..."}`);
/// `{"command":"commands","from":N,"limit":M,"wait_ms":W}` (reply: a ``CommandsReply``);
/// `{"command":"observe","control":{...}}` (a ``ControlReport``; reply: `{"ok":"..."}`).
/// Errors: `{"error":"..."}`.
public struct AdminRequest: Sendable, Codable, Equatable {
    public var command: String
    public var worker: String?
    public var force: Bool?
    /// `commands`: the first command log offset wanted (default 0).
    public var from: UInt64?
    /// `commands`: at most this many (default and maximum 10,000; binary: up to 100,000).
    public var limit: Int?
    /// `commands`: if none is there yet, wait up to this long for one (default 0, max 30,000).
    public var waitMilliseconds: Int?
    /// `observe`: what a simulator sees.
    public var control: ControlReport?
    /// `commands`: `json` (default) or `binary` (``CommandsReply/encodeBinary()``).
    public var format: String?
    /// The operator's credential, where the coordinator has `--admin-token-file`: its read
    /// token (status, commands) or write token (everything).
    public var token: String?

    enum CodingKeys: String, CodingKey {
        case command, worker, force, from, limit, control, format, token
        case waitMilliseconds = "wait_ms"
    }

    public init(command: String, worker: String? = nil, force: Bool? = nil, from: UInt64? = nil, limit: Int? = nil, waitMilliseconds: Int? = nil, control: ControlReport? = nil, format: String? = nil, token: String? = nil) {
        self.command = command
        self.token = token
        self.control = control
        self.worker = worker
        self.force = force
        self.from = from
        self.limit = limit
        self.waitMilliseconds = waitMilliseconds
        self.format = format
    }
}

/// A slice of the durable command log.
public struct CommandsReply: Sendable, Codable, Equatable {
    public struct Entry: Sendable, Codable, Equatable {
        public var offset: UInt64
        public var sensor: UInt64
        public var action: UInt8
        public var heater: String
        /// The input partition and offset of the reading that caused it.
        public var partition: UInt32
        public var inputOffset: UInt64
        enum CodingKeys: String, CodingKey {
            case offset, sensor, action, heater, partition
            case inputOffset = "input_offset"
        }
        public init(offset: UInt64, sensor: UInt64, action: UInt8, heater: String, partition: UInt32, inputOffset: UInt64) {
            self.offset = offset
            self.sensor = sensor
            self.action = action
            self.heater = heater
            self.partition = partition
            self.inputOffset = inputOffset
        }
    }

    public var commands: [Entry]
    /// Where to continue: the offset after the last command returned.
    public var next: UInt64
    /// The oldest offset the log still holds, and the offset after its newest command.
    public var start: UInt64
    public var end: UInt64

    public init(commands: [Entry], next: UInt64, start: UInt64, end: UInt64) {
        self.commands = commands
        self.next = next
        self.start = start
        self.end = end
    }
}

public struct AdminOK: Sendable, Codable, Equatable {
    public var ok: String
    public init(ok: String) { self.ok = ok }
}

/// An admin request that failed: `{"error":"...","code":"invalid","retryable":false}`. `error` is
/// for people; `code` (docs/protocol.md) and `retryable` are for programs.
public struct AdminError: Sendable, Codable, Equatable, Error {
    public var error: String
    /// Absent only in replies from coordinators that predate codes.
    public var code: RefusalCode?
    public var retryable: Bool

    public init(error: String, code: RefusalCode = .invalid) {
        self.error = error
        self.code = code
        self.retryable = code.retryable
    }

    enum CodingKeys: String, CodingKey { case error, code, retryable }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        error = try container.decode(String.self, forKey: .error)
        code = try container.decodeIfPresent(RefusalCode.self, forKey: .code)
        retryable = try container.decodeIfPresent(Bool.self, forKey: .retryable) ?? false
    }
}

/// The cluster as the coordinator sees it.
public struct StatusReport: Sendable, Codable, Equatable {
    public struct WorkerStatus: Sendable, Codable, Equatable {
        public var id: String
        public var incarnation: UInt64
        public var partitions: [Int]
        public var leaving: Bool
        public var lastHeardMilliseconds: UInt64
        enum CodingKeys: String, CodingKey {
            case id, incarnation, partitions, leaving
            case lastHeardMilliseconds = "last_heard_ms"
        }
        public init(id: String, incarnation: UInt64, partitions: [Int], leaving: Bool, lastHeardMilliseconds: UInt64) {
            self.id = id
            self.incarnation = incarnation
            self.partitions = partitions
            self.leaving = leaving
            self.lastHeardMilliseconds = lastHeardMilliseconds
        }
    }

    public struct PartitionStatus: Sendable, Codable, Equatable {
        public var id: Int
        /// The worker holding it, nil while unassigned.
        public var owner: String?
        /// "owned", "releasing" (being handed over) or "unassigned".
        public var state: String
        public var epoch: UInt64
        /// Offsets: next to accept, processed through, covered by the newest checkpoint.
        public var head: UInt64
        public var processed: UInt64
        public var checkpoint: UInt64
        /// Items accepted but not yet processed.
        public var lag: UInt64
        /// Milliseconds since the newest checkpoint was stored (nil: none yet).
        public var checkpointAgeMilliseconds: UInt64?
        enum CodingKeys: String, CodingKey {
            case id, owner, state, epoch, head, processed, checkpoint, lag
            case checkpointAgeMilliseconds = "checkpoint_age_ms"
        }

        /// Writes `owner` and `checkpoint_age_ms` as null rather than leaving them out.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(owner, forKey: .owner)
            try c.encode(state, forKey: .state)
            try c.encode(epoch, forKey: .epoch)
            try c.encode(head, forKey: .head)
            try c.encode(processed, forKey: .processed)
            try c.encode(checkpoint, forKey: .checkpoint)
            try c.encode(lag, forKey: .lag)
            try c.encode(checkpointAgeMilliseconds, forKey: .checkpointAgeMilliseconds)
        }
        public init(id: Int, owner: String?, state: String, epoch: UInt64, head: UInt64, processed: UInt64, checkpoint: UInt64, lag: UInt64, checkpointAgeMilliseconds: UInt64?) {
            self.id = id
            self.owner = owner
            self.state = state
            self.epoch = epoch
            self.head = head
            self.processed = processed
            self.checkpoint = checkpoint
            self.lag = lag
            self.checkpointAgeMilliseconds = checkpointAgeMilliseconds
        }
    }

    /// Pauses of moved partitions (handovers and failovers), over the latest 4096.
    public struct Pauses: Sendable, Codable, Equatable {
        public var count: Int
        public var medianMilliseconds: Double
        public var p99Milliseconds: Double
        public var maxMilliseconds: Double
        enum CodingKeys: String, CodingKey {
            case count
            case medianMilliseconds = "median_ms"
            case p99Milliseconds = "p99_ms"
            case maxMilliseconds = "max_ms"
        }
        public init(count: Int, medianMilliseconds: Double, p99Milliseconds: Double, maxMilliseconds: Double) {
            self.count = count
            self.medianMilliseconds = medianMilliseconds
            self.p99Milliseconds = p99Milliseconds
            self.maxMilliseconds = maxMilliseconds
        }
    }

    /// One listening socket's connections.
    public struct Connections: Sendable, Codable, Equatable {
        /// Open now, and the most that may be open (more are closed as they arrive).
        public var open: Int
        public var limit: Int
        /// Closed on arrival because `limit` were open.
        public var refused: UInt64
        /// Closed because they sent nothing within the silent or idle timeout.
        public var closedSilent: UInt64
        enum CodingKeys: String, CodingKey {
            case open, limit, refused
            case closedSilent = "closed_silent"
        }
        public init(open: Int, limit: Int, refused: UInt64, closedSilent: UInt64) {
            self.open = open
            self.limit = limit
            self.refused = refused
            self.closedSilent = closedSilent
        }
    }

    public var partitionCount: Int
    public var workers: [WorkerStatus]
    public var partitions: [PartitionStatus]
    public var counters: Counters
    public var pauses: Pauses?
    /// Per socket ("ingest", "publish", "cluster", "admin").
    public var connections: [String: Connections]?
    enum CodingKeys: String, CodingKey {
        case workers, partitions, counters, pauses, connections
        case partitionCount = "partition_count"
    }
    public init(partitionCount: Int, workers: [WorkerStatus], partitions: [PartitionStatus], counters: Counters) {
        self.partitionCount = partitionCount
        self.workers = workers
        self.partitions = partitions
        self.counters = counters
    }
}

/// What the coordinator counts, as `thermoshard status` shows it.
public struct Counters: Sendable, Codable, Equatable {
    public init() {}
    /// Items accepted from producers.
    public var accepted: UInt64 = 0
    /// Items refused one by one (invalid values, wrong types, ...).
    public var rejected: UInt64 = 0
    /// Whole requests refused (not JSON, bad binary header, oversized, overloaded).
    public var rejectedRequests: UInt64 = 0
    /// Items the workers reported processed.
    public var processed: UInt64 = 0
    /// Heater commands published.
    public var commands: UInt64 = 0
    /// Commands a replay regenerated that had been published before (suppressed).
    public var duplicateCommandsSuppressed: UInt64 = 0
    /// Readings dropped because their sensor had no setting yet.
    public var droppedNoSetting: UInt64 = 0
    /// Results, checkpoints or releases from a worker that no longer owned the partition.
    public var fenced: UInt64 = 0
    /// Cluster frames that could not be decoded, or came from a wrong protocol version.
    public var malformedFrames: UInt64 = 0
    /// Items sent again to a partition's new owner: those after its checkpoint that an
    /// earlier owner had already processed.
    public var replayed: UInt64 = 0
    /// Checkpoints stored.
    public var checkpoints: UInt64 = 0
    /// Checkpoints refused: not intact, not of the partition or offset they claim, with sensors
    /// of other partitions or invalid settings (the previous checkpoint is kept).
    public var badCheckpoints: UInt64 = 0
    /// Assignments a worker reported it could not restore (the partition went to another worker).
    public var restoreFailures: UInt64 = 0
    /// Workers declared dead (lost connection or heartbeat timeout).
    public var workersLost: UInt64 = 0
    /// Hellos refused because a live worker holds the name on another connection.
    public var hellosRefused: UInt64 = 0
    /// Partition ownership changes.
    public var partitionMoves: UInt64 = 0
    /// Retries of an idempotent producer's request, answered with the first reply.
    public var duplicateRequests: UInt64 = 0
    /// Ingest journal segments on disk, and removed because checkpoints cover them.
    public var journalSegments: UInt64 = 0
    public var journalSegmentsRemoved: UInt64 = 0
    /// Group commits that ended with an fsync.
    public var fsyncs: UInt64 = 0
    /// Commands in the durable command log (its end offset).
    public var commandLogEnd: UInt64 = 0
    /// Commands decided but not yet written to the command log (in the current group commit).
    public var commandsUnwritten: UInt64 = 0
    /// Hellos refused for a missing or wrong join token (`--token-file`).
    public var hellosUnauthorized: UInt64 = 0
    /// Polls and leaves for a registered worker that came on another connection than the one it
    /// registered on (refused as fenced; the worker is left alone).
    public var otherConnectionRequests: UInt64 = 0
    /// Polls whose results broke a rule (a sensor of another partition, an offset not sent,
    /// not a reading of that sensor, two commands for one offset, an offset beyond what was
    /// sent): nothing of them was taken and the worker was fenced (dropped from membership).
    public var resultsRefused: UInt64 = 0
    /// Ingest requests refused for a missing or invalid producer credential, or a setting
    /// from a producer allowed readings only (`--producers-file`).
    public var ingestUnauthorized: UInt64 = 0
    /// Admin requests refused for a missing or insufficient token (`--admin-token-file`).
    public var adminUnauthorized: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case accepted, rejected, processed, commands, fenced, checkpoints, replayed
        case rejectedRequests = "rejected_requests"
        case duplicateCommandsSuppressed = "duplicate_commands_suppressed"
        case droppedNoSetting = "dropped_no_setting"
        case malformedFrames = "malformed_frames"
        case workersLost = "workers_lost"
        case hellosRefused = "hellos_refused"
        case badCheckpoints = "bad_checkpoints"
        case restoreFailures = "restore_failures"
        case partitionMoves = "partition_moves"
        case duplicateRequests = "duplicate_requests"
        case journalSegments = "journal_segments"
        case journalSegmentsRemoved = "journal_segments_removed"
        case fsyncs
        case commandLogEnd = "command_log_end"
        case commandsUnwritten = "commands_unwritten"
        case hellosUnauthorized = "hellos_unauthorized"
        case otherConnectionRequests = "other_connection_requests"
        case resultsRefused = "results_refused"
        case ingestUnauthorized = "ingest_unauthorized"
        case adminUnauthorized = "admin_unauthorized"
    }
}
