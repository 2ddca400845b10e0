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
        try socket.setReconnect(minimum: .milliseconds(20), maximum: .milliseconds(200))
        try socket.setReceiveMaxSize(ClusterProtocol.maximumFrameSize)
        try socket.setRequestResendTime(.seconds(3600))
        do {
            try socket.dial(configuration.coordinatorURL)
        } catch {
            await socket.close()
            throw Failure.refused("cannot dial \(configuration.coordinatorURL): \(error)")
        }
        logger.info("worker started", metadata: ["id": "\(configuration.id)", "coordinator": "\(configuration.coordinatorURL)"])

        // One way out, whatever the state: on SIGTERM the session hands its partitions over
        // and ends; the deadline below ends it anyway once --leave-timeout has passed (at once
        // if it never registered, within a second if the coordinator is unreachable).
        let lifecycle = Lifecycle()
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await session(socket, lifecycle) }
                    group.addTask { await leaveDeadline(socket, lifecycle) }
                    try await group.next()
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                lifecycle.requestLeave()
            }
        } catch {
            await close(socket)
            throw error
        }
        await close(socket)
        logger.info("worker stopped", metadata: ["id": "\(configuration.id)"])
    }

    private func close(_ socket: Socket) async {
        if await !Socket.close([socket], timeout: .seconds(1)) {
            logger.warning("nng did not finish closing the socket within 1 s (a known libnng 1.5.2 race, nanomsg/nng#1813); exiting without waiting for it")
        }
    }

    /// Returns when the worker must stop waiting for its leave to complete.
    private func leaveDeadline(_ socket: Socket, _ lifecycle: Lifecycle) async {
        guard await lifecycle.leaveRequested() else { return }
        guard lifecycle.isRegistered else {
            logger.info("stopping: not registered, nothing to hand over")
            return
        }
        let start = ContinuousClock.now
        let deadline = start + configuration.leaveTimeout
        // Without a connection there is no one to hand over to: give a reconnect a second.
        var unreachableSince: ContinuousClock.Instant?
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if socket.connectionStats.open == 0 {
                let since = unreachableSince ?? .now
                unreachableSince = since
                if ContinuousClock.now - since >= .seconds(1) {
                    logger.warning("stopping: the coordinator is unreachable, partitions not handed over (it reassigns them)")
                    return
                }
            } else {
                unreachableSince = nil
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if !Task.isCancelled {
            logger.warning("leave timed out; exiting with partitions still assigned", metadata: ["leave_timeout": "\(configuration.leaveTimeout)"])
        }
    }

    /// Sends a request and waits for its reply, asking again (with capped, jittered backoff)
    /// after a failure. Ends by throwing `CancellationError` when the task is cancelled.
    private func exchange(_ socket: Socket, _ request: ClusterRequest, errors: inout RepeatedErrorLog) async throws -> ClusterReply {
        let bytes = request.encode()
        var backoff = Backoff()
        while true {
            try Task.checkCancellation()
            do {
                try await socket.send(bytes, timeout: configuration.requestTimeout)
                let reply = try await socket.receive(timeout: configuration.requestTimeout).bytes
                do {
                    let decoded = try ClusterReply.decode(reply)
                    errors.recovered("the coordinator answers again", to: logger)
                    return decoded
                } catch {
                    errors.report("the reply from \(configuration.coordinatorURL) is not a cluster protocol reply (\(error)): is --coordinator the coordinator's cluster address (default port 7602)?", to: logger, level: .error)
                }
            } catch .timedOut {
                errors.report("no answer from the coordinator at \(configuration.coordinatorURL) within \(configuration.requestTimeout); asking again", to: logger)
            } catch .closed {
                throw CancellationError()
            } catch .canceled {
                throw CancellationError()
            } catch {
                errors.report("cluster request to \(configuration.coordinatorURL) failed: \(error)", to: logger)
            }
            try await Task.sleep(for: backoff.next())
        }
    }

    private func session(_ socket: Socket, _ lifecycle: Lifecycle) async throws {
        let id = configuration.id
        var engine = WorkerEngine()
        var errors = RepeatedErrorLog()
        var anomalies = RepeatedErrorLog()
        var registerBackoff = Backoff(base: .milliseconds(100), cap: .seconds(2))
        register: while true {
            // Register (again, after being fenced off); a leave before that ends the session.
            if lifecycle.isLeaveRequested { return }
            let welcome: Welcome
            let reply = try await exchange(socket, .hello(Hello(worker: id)), errors: &errors)
            switch reply {
            case .welcome(let w):
                welcome = w
            case .refused(let reason) where reply.isNameInUse:
                // Another live process holds this name: wait for it to go (or for the
                // operator), never take over. The coordinator frees the name once that process's
                // connection closes or its heartbeat times out.
                errors.report("not registered: \(reason); asking again", to: logger, level: .error)
                try await Task.sleep(for: registerBackoff.next())
                continue register
            case .refused(let reason):
                throw Failure.refused(reason)
            case .fenced(let reason):
                errors.report("registration not accepted yet: \(reason)", to: logger)
                try await Task.sleep(for: registerBackoff.next())
                continue register
            case .work:
                try await Task.sleep(for: registerBackoff.next())
                continue register
            }
            registerBackoff.reset()
            lifecycle.registered(true)
            logger.info("registered", metadata: ["incarnation": "\(welcome.incarnation)", "partitions": "\(welcome.partitionCount)"])
            let checkpointInterval = Duration.milliseconds(Int(welcome.checkpointIntervalMilliseconds))
            var lastCheckpoint = ContinuousClock.now
            var checkpointsOwed = false
            var leaveSent = false
            engine.reset()

            while true {
                if lifecycle.isLeaveRequested, !leaveSent {
                    leaveSent = true
                    logger.info("leaving: handing partitions over", metadata: ["partitions": "\(engine.ownedPartitions.count)"])
                    let reply = try await exchange(socket, .leave(worker: id, incarnation: welcome.incarnation), errors: &errors)
                    if case .work(let work) = reply { engine.apply(work) } else if case .fenced = reply { return }
                }
                if ContinuousClock.now - lastCheckpoint >= checkpointInterval || checkpointsOwed {
                    // At most ~256k sensors a cycle; the rest follow in the next polls.
                    checkpointsOwed = engine.checkpointChanged(sensorBudget: 262_144)
                    if !checkpointsOwed { lastCheckpoint = .now }
                }
                let poll = engine.takePoll(worker: id, incarnation: welcome.incarnation)
                switch try await exchange(socket, .poll(poll), errors: &errors) {
                case .work(let work):
                    engine.apply(work)
                    for anomaly in engine.anomalies { anomalies.report(anomaly, to: logger) }
                    if work.goodbye { return }
                case .fenced(let reason):
                    logger.warning("fenced off by the coordinator; dropping partitions and registering again", metadata: ["reason": "\(reason)"])
                    lifecycle.registered(false)
                    if leaveSent { return }
                    engine.reset()
                    continue register
                case .refused(let reason):
                    throw Failure.refused(reason)
                case .welcome:
                    lifecycle.registered(false)
                    continue register
                }
            }
        }
    }
}

/// What the shutdown path needs to know of the session: whether a leave was asked for (set
/// once, on SIGTERM) and whether the worker is registered.
final class Lifecycle: Sendable {
    private struct State {
        var leave = false
        var registered = false
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }

    private let state = Mutex(State())

    func requestLeave() {
        let waiters = state.withLock { state in
            state.leave = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    var isLeaveRequested: Bool { state.withLock { $0.leave } }
    var isRegistered: Bool { state.withLock { $0.registered } }
    func registered(_ value: Bool) { state.withLock { $0.registered = value } }

    /// Waits until a leave is requested (true) or the task is cancelled (false).
    func leaveRequested() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool? in
                    if state.leave { return true }
                    if Task.isCancelled { return false }
                    state.waiters.append(continuation)
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiters = state.withLock { state in
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: false) }
        }
    }
}
