import Logging
import Metrics
import Observability
import Synchronization
import Wire

/// What a worker reports: its metrics, counted from each exchange with the coordinator (the
/// poll it sent, the reply it got), an info line for every partition it takes or releases,
/// and a snapshot for its HTTP listener (`/api/status`, `/readyz`).
public final class WorkerProbe: Sendable {
    public struct Snapshot: Sendable, Codable, Equatable {
        public var id: String
        public var registered: Bool
        public var incarnation: UInt64?
        public var partitions: [Int]
        public var items: UInt64
        public var commands: UInt64
        public var checkpoints: UInt64
    }

    private let state: Mutex<Snapshot>

    init(id: String) {
        state = Mutex(Snapshot(id: id, registered: false, incarnation: nil, partitions: [], items: 0, commands: 0, checkpoints: 0))
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    private static let items = Counter(label: MetricName.workerItems)
    private static let commands = Counter(label: MetricName.workerCommands)
    private static let checkpoints = Counter(label: MetricName.workerCheckpoints)
    private static let assignments = Counter(label: MetricName.workerAssignments)
    private static let revocations = Counter(label: MetricName.workerRevocations)
    private static let fenced = Counter(label: MetricName.workerFenced)
    private static let owned = Gauge(label: MetricName.workerPartitions)
    private static let registered = Gauge(label: MetricName.workerRegistered)

    /// One exchange: `request` sent, `reply` received, `session` after taking the reply.
    func exchanged(_ request: ClusterRequest, _ reply: ClusterReply, _ session: WorkerSession, started: ContinuousClock.Instant, logger: Logger) {
        Timings.workerPoll.record(since: started)
        var commands = 0
        var checkpoints = 0
        if case .poll(let poll) = request {
            commands = poll.results.reduce(0) { $0 + $1.commands.count }
            checkpoints = poll.checkpoints.count
            for release in poll.released {
                logger.info("partition released (handover)", metadata: ["partition": "\(release.partition)", "epoch": "\(release.epoch)"])
            }
        }
        var items = 0
        switch reply {
        case .work(let work):
            items = work.items.count
            for assign in work.assigns {
                logger.info("partition assigned", metadata: ["partition": "\(assign.partition)", "epoch": "\(assign.epoch)", "from_offset": "\(assign.nextOffset)"])
            }
            for revoke in work.revokes {
                logger.info("partition revoked", metadata: ["partition": "\(revoke.partition)", "epoch": "\(revoke.epoch)"])
            }
            if !work.assigns.isEmpty { Self.assignments.increment(by: work.assigns.count) }
            if !work.revokes.isEmpty { Self.revocations.increment(by: work.revokes.count) }
        case .fenced(let reason):
            Self.fenced.increment()
            logger.info("fenced", metadata: ["reason": "\(reason)"])
        case .welcome, .refused:
            break
        }
        if items > 0 { Self.items.increment(by: items) }
        if commands > 0 { Self.commands.increment(by: commands) }
        if checkpoints > 0 { Self.checkpoints.increment(by: checkpoints) }
        let partitions = session.engine.ownedPartitions
        let incarnation: UInt64? = if case .registered(let welcome) = session.phase { welcome.incarnation } else { nil }
        Self.owned.record(partitions.count)
        Self.registered.record(incarnation == nil ? 0 : 1)
        state.withLock {
            $0.registered = incarnation != nil
            $0.incarnation = incarnation
            $0.partitions = partitions
            $0.items += UInt64(items)
            $0.commands += UInt64(commands)
            $0.checkpoints += UInt64(checkpoints)
        }
    }
}
