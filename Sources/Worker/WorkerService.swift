import Foundation
public import Logging
import NNG
public import ServiceLifecycle
import Synchronization
import Wire

public struct WorkerConfiguration: Sendable {
    public var coordinatorURL = "tcp://127.0.0.1:7602"
    public var id: String
    /// How long to wait for the coordinator's answer before asking again.
    public var requestTimeout: Duration = .seconds(3)
    /// How long a graceful leave may take before the worker gives up and exits.
    public var leaveTimeout: Duration = .seconds(5)

    public init(id: String) {
        self.id = id
    }
}

/// The worker process: registers with the coordinator, polls for work, steps the controller,
/// checkpoints, and on SIGTERM hands its partitions back before it exits.
///
/// One nng REQ socket dialled (non-blocking, so the coordinator may start later) to the
/// coordinator; every exchange awaits nng's aio. Nothing is kept on disk.
public struct WorkerService: Service {
    public let configuration: WorkerConfiguration
    let logger: Logger

    public init(configuration: WorkerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public enum Failure: Error, CustomStringConvertible {
        case refused(String)
        public var description: String {
            switch self {
            case .refused(let reason): "the coordinator refused this worker: \(reason)"
            }
        }
    }

    public func run() async throws {
        let socket = try Socket(.req)
        defer { socket.close() }
        try socket.setReconnect(minimum: .milliseconds(20), maximum: .milliseconds(200))
        try socket.setReceiveMaxSize(ClusterProtocol.maximumFrameSize)
        try socket.setRequestResendTime(.seconds(3600))
        try socket.dial(configuration.coordinatorURL)
        logger.info("worker started", metadata: ["id": "\(configuration.id)", "coordinator": "\(configuration.coordinatorURL)"])

        let leaving = LeaveSignal()
        try await withGracefulShutdownHandler {
            try await session(socket, leaving: leaving)
        } onGracefulShutdown: {
            leaving.request()
        }
        logger.info("worker stopped", metadata: ["id": "\(configuration.id)"])
    }

    /// Sends a request and waits for its reply, asking again after a timeout or a lost
    /// connection; returns nil once `stop` says so.
    private func exchange(_ socket: Socket, _ request: ClusterRequest, stop: () -> Bool) async throws -> ClusterReply? {
        let bytes = request.encode()
        while !stop() {
            do {
                try await socket.send(bytes, timeout: configuration.requestTimeout)
                let reply = try await socket.receive(timeout: configuration.requestTimeout).bytes
                do {
                    return try ClusterReply.decode(reply)
                } catch {
                    logger.error("undecodable reply from coordinator", metadata: ["error": "\(error)"])
                }
            } catch .timedOut {
                logger.debug("no answer from coordinator, asking again")
            } catch .closed {
                throw NNGError.closed
            } catch {
                logger.warning("cluster request failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        return nil
    }

    private func session(_ socket: Socket, leaving: LeaveSignal) async throws {
        let id = configuration.id
        var engine = WorkerEngine()
        let leaveStarted = Mutex<ContinuousClock.Instant?>(nil)
        let stop: () -> Bool = {
            guard let started = leaveStarted.withLock({ $0 }) else { return false }
            return ContinuousClock.now - started > configuration.leaveTimeout
        }
        register: while true {
            // Register (again, after being fenced off).
            guard let welcomeReply = try await exchange(socket, .hello(Hello(worker: id)), stop: { leaving.requested && stop() })
            else { return }
            let welcome: Welcome
            switch welcomeReply {
            case .welcome(let w): welcome = w
            case .refused(let reason): throw Failure.refused(reason)
            case .fenced, .work:
                try await Task.sleep(for: .milliseconds(100))
                continue register
            }
            logger.info("registered", metadata: ["incarnation": "\(welcome.incarnation)", "partitions": "\(welcome.partitionCount)"])
            let checkpointInterval = Duration.milliseconds(Int(welcome.checkpointIntervalMilliseconds))
            var lastCheckpoint = ContinuousClock.now
            var checkpointsOwed = false
            var leaveSent = false
            engine.reset()

            while true {
                if leaving.requested, !leaveSent {
                    leaveSent = true
                    leaveStarted.withLock { $0 = .now }
                    logger.info("leaving: handing partitions over", metadata: ["partitions": "\(engine.ownedPartitions.count)"])
                    guard let reply = try await exchange(socket, .leave(worker: id, incarnation: welcome.incarnation), stop: stop) else { return }
                    if case .work(let work) = reply { engine.apply(work) } else if case .fenced = reply { return }
                }
                if ContinuousClock.now - lastCheckpoint >= checkpointInterval || checkpointsOwed {
                    // At most ~256k sensors a cycle; the rest follow in the next polls.
                    checkpointsOwed = engine.checkpointChanged(sensorBudget: 262_144)
                    if !checkpointsOwed { lastCheckpoint = .now }
                }
                let poll = engine.takePoll(worker: id, incarnation: welcome.incarnation)
                guard let reply = try await exchange(socket, .poll(poll), stop: stop) else {
                    logger.warning("leave timed out; exiting with partitions still assigned")
                    return
                }
                switch reply {
                case .work(let work):
                    engine.apply(work)
                    for anomaly in engine.anomalies { logger.warning("\(anomaly)") }
                    if work.goodbye { return }
                case .fenced(let reason):
                    logger.warning("fenced off by the coordinator; dropping partitions and registering again", metadata: ["reason": "\(reason)"])
                    if leaveSent { return }
                    engine.reset()
                    continue register
                case .refused(let reason):
                    throw Failure.refused(reason)
                case .welcome:
                    continue register
                }
            }
        }
    }
}

/// Set once on graceful shutdown: the worker hands its partitions over and exits.
final class LeaveSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    func request() { flag.store(true, ordering: .relaxed) }
    var requested: Bool { flag.load(ordering: .relaxed) }
}
