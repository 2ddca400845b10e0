public import CoordinatorCore
public import NNG
public import Storage
public import Wire

/// Everything a coordinator is started with. Defaults are the documented ones.
public struct CoordinatorConfiguration: Sendable {
    public var dataDirectory: String
    /// The partition count for a new data directory (nil: 64, or what an existing one says).
    public var partitions: Int?
    public var ingestURL = "tcp://127.0.0.1:7600"
    public var publishURL = "tcp://127.0.0.1:7601"
    public var clusterURL = "tcp://127.0.0.1:7602"
    public var adminURL = "tcp://127.0.0.1:7603"
    /// How commands go out on the PUB socket: a message each, or batches.
    public var feedFormat = FeedFormat.text
    /// A worker silent for longer is declared dead.
    public var heartbeatTimeout: Duration = .milliseconds(800)
    /// How long a worker's poll is held when there is no work: the heartbeat period.
    public var pollWait: Duration = .milliseconds(100)
    /// How often workers checkpoint each partition they own.
    public var checkpointInterval: Duration = .seconds(1)
    /// Items accepted but not yet covered by a checkpoint, across all partitions, before
    /// producers are refused with a retryable error (backpressure).
    public var maxBufferedItems = 4_000_000
    /// Items per poll reply (one hop's batch).
    public var maxBatchItems = 16_384
    /// The largest ingest request, in bytes.
    public var maxRequestBytes = 16 << 20
    /// When the journal and command log are forced to disk (docs/guarantees.md).
    public var fsync = FsyncPolicy.interval
    /// Under `.interval`, the longest time between syncs.
    public var fsyncInterval: Duration = .milliseconds(100)
    /// The ingest journal starts a new segment past this size.
    public var segmentBytes = 64 << 20
    /// Commands per command log segment.
    public var commandSegmentRecords: UInt64 = 1 << 20
    /// Open connections per socket; more are closed as they arrive. Scaled down at start if the
    /// process may not open that many file descriptors.
    public var maxConnections = ConnectionCounts(ingest: 1024, publish: 1024, cluster: 256, admin: 128)
    /// A connection that sends no complete message this long after it opens is closed.
    public var silentConnectionTimeout: Duration = .seconds(5)
    /// A connection (ingest, cluster, admin) that sends nothing for this long is closed; nng
    /// clients reconnect by themselves.
    public var idleConnectionTimeout: Duration = .seconds(120)

    /// TLS for every `tls+tcp://` address it listens on (``TLSConfiguration/load()``ed); the
    /// cluster socket requires client certificates signed by its CA (mutual TLS), and so does
    /// the publish socket (the feed goes to certified subscribers only); ingest and admin
    /// authenticate the server only (their clients use tokens).
    public var tls: TLSConfiguration?
    /// The join token every worker's hello must carry (`--token-file`).
    public var joinToken: String?
    /// Producers' tokens and what each may send (`--producers-file`).
    public var producers: ProducerCredentials?
    /// The operators' read and write tokens (`--admin-token-file`).
    public var adminCredentials: AdminCredentials?

    public struct ConnectionCounts: Sendable {
        public var ingest, publish, cluster, admin: Int
        public init(ingest: Int, publish: Int, cluster: Int, admin: Int) {
            (self.ingest, self.publish, self.cluster, self.admin) = (ingest, publish, cluster, admin)
        }
    }

    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    var milliseconds: UInt32 { UInt32(clamping: nanoseconds / 1_000_000) }
}

/// The shell's monotonic clock, read as nanoseconds since the coordinator started.
struct MonotonicClock: Sendable {
    let start = ContinuousClock.now
    func now() -> UInt64 { (ContinuousClock.now - start).nanoseconds }
}
