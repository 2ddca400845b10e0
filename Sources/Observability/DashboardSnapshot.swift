public import Wire

/// One second of the cluster as the dashboard draws it (the `snapshot` event of `/api/events`):
/// the partition map in compact arrays, so that 4,096 partitions cost tens of kilobytes.
public struct DashboardSnapshot: Sendable, Codable, Equatable {
    public struct Worker: Sendable, Codable, Equatable {
        public var id: String
        public var incarnation: UInt64
        /// active, leaving or silent (not heard for over 500 ms).
        public var state: String
        public var partitions: Int
        public var lastHeardMilliseconds: UInt64
        enum CodingKeys: String, CodingKey {
            case id, incarnation, state, partitions
            case lastHeardMilliseconds = "last_heard_ms"
        }
    }

    public var timeMilliseconds: Int64
    public var ready: Bool
    public var partitionCount: Int
    public var workers: [Worker]
    /// Per partition: the index of its owner in `workers`, or -1.
    public var owners: [Int]
    /// Per partition: `o` owned, `r` releasing (handover in progress), `u` unassigned.
    public var states: String
    public var epochs: [UInt64]
    public var lags: [UInt64]
    /// Seconds the oldest unprocessed item of each partition has waited.
    public var lagAges: [Double]
    public var counters: Counters
    public var pauses: StatusReport.Pauses?
    public var point: ClusterObserver.Point?
    public var refused: [String: UInt64]
    public var rejected: [String: UInt64]
    public var badFrames: [String: UInt64]

    enum CodingKeys: String, CodingKey {
        case ready, workers, owners, states, epochs, lags, counters, pauses, point, refused, rejected
        case timeMilliseconds = "t"
        case partitionCount = "partition_count"
        case lagAges = "lag_ages"
        case badFrames = "bad_frames"
    }

    public init(report: StatusReport, ready: Bool, now: Int64, lagAges: [Double], point: ClusterObserver.Point?,
                refused: [String: UInt64], rejected: [String: UInt64], badFrames: [String: UInt64]) {
        timeMilliseconds = now
        self.ready = ready
        partitionCount = report.partitionCount
        workers = report.workers.map {
            Worker(id: $0.id, incarnation: $0.incarnation, state: $0.leaving ? "leaving" : $0.lastHeardMilliseconds > 500 ? "silent" : "active",
                   partitions: $0.partitions.count, lastHeardMilliseconds: $0.lastHeardMilliseconds)
        }
        let index = Dictionary(report.workers.enumerated().map { ($0.element.id, $0.offset) }, uniquingKeysWith: { a, _ in a })
        owners = report.partitions.map { $0.owner.flatMap { index[$0] } ?? -1 }
        states = String(report.partitions.map { $0.state == "owned" ? "o" : $0.state == "releasing" ? "r" : "u" })
        epochs = report.partitions.map(\.epoch)
        lags = report.partitions.map(\.lag)
        self.lagAges = lagAges.map { ($0 * 10).rounded() / 10 }
        counters = report.counters
        pauses = report.pauses
        self.point = point
        self.refused = refused
        self.rejected = rejected
        self.badFrames = badFrames
    }
}

/// Ready: the journal is open (the coordinator runs) and every partition has an owner.
public func isReady(_ report: StatusReport, running: Bool) -> (ready: Bool, reason: String) {
    guard running else { return (false, "the coordinator is stopping") }
    let unowned = report.partitions.filter { $0.owner == nil }.count
    if report.workers.isEmpty { return (false, "no worker has joined") }
    if unowned > 0 { return (false, "\(unowned) of \(report.partitionCount) partitions have no owner") }
    return (true, "every partition owned, journal open")
}
