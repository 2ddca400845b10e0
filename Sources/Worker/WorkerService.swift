import Control
import Foundation
public import Logging
public import NNG
import Resilience
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
    /// TLS for a `tls+tcp://` coordinator address (``TLSConfiguration/load()``ed): the worker's
    /// certificate and key (the coordinator requires them) and the CA of the coordinator's.
    public var tls: TLSConfiguration?
    /// The join token (`--token-file`), sent in the hello.
    public var joinToken: String?

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
    /// For the HTTP listener: registration, partitions and counts.
    public let probe: WorkerProbe

    public init(configuration: WorkerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        probe = WorkerProbe(id: configuration.id)
    }

    public enum Failure: Error, CustomStringConvertible {
        case refused(String)
        public var description: String {
            switch self {
            case .refused(let reason): reason
            }
        }
    }

    public func run() async throws {
        Self.mapLargeBlocks()
        let socket = try Socket(.req)
        try socket.setReconnect(minimum: .milliseconds(20), maximum: .milliseconds(200))
        try socket.setReceiveMaxSize(ClusterProtocol.maximumReplySize)
        try socket.setRequestResendTime(.seconds(3600))
        do {
            try socket.dial(configuration.coordinatorURL, tls: configuration.tls)
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
    /// Returns the reply and the bytes moved both ways.
    private func exchange(_ socket: Socket, _ request: ClusterRequest, errors: inout RateLimitedLog, itemStorage: inout [Item]) async throws -> (ClusterReply, bytes: Int) {
        let bytes = request.encode()
        var backoff = Backoff()
        while true {
            try Task.checkCancellation()
            do {
                try await socket.send(bytes, timeout: configuration.requestTimeout)
                let reply = try await socket.receive(timeout: configuration.requestTimeout).bytes
                do {
                    let decoded = try ClusterReply.decode(reply, reusing: &itemStorage)
                    errors.recovered("the coordinator answers again", to: logger)
                    return (decoded, bytes.count + reply.count)
                } catch {
                    errors.log("the reply from \(configuration.coordinatorURL) is not a cluster protocol reply (\(error)): is --coordinator the coordinator's cluster address (default port 7602)?", level: .error, to: logger)
                }
            } catch .timedOut {
                errors.log("no answer from the coordinator at \(configuration.coordinatorURL) within \(configuration.requestTimeout)\(tlsHint(socket)); asking again", to: logger)
            } catch .closed {
                throw CancellationError()
            } catch .canceled {
                throw CancellationError()
            } catch {
                errors.log("cluster request to \(configuration.coordinatorURL) failed: \(error)\(tlsHint(socket))", to: logger)
            }
            try await Task.sleep(for: backoff.next())
        }
    }

    /// A failed TLS handshake makes no connection and nng says nothing about it: what to check.
    private func tlsHint(_ socket: Socket) -> String {
        guard socket.connectionStats.open == 0, TLSConfiguration.isTLS(configuration.coordinatorURL) else { return "" }
        return " (no TLS connection: the coordinator refuses a --tls-cert its --tls-ca did not sign, and this worker a coordinator certificate that its --tls-ca did not sign or that does not name the host dialled)"
    }

    /// Drives a ``WorkerSession``: every decision is the session's; this only exchanges, sleeps
    /// and logs.
    private func session(_ socket: Socket, _ lifecycle: Lifecycle) async throws {
        var session = WorkerSession(id: configuration.id)
        session.joinToken = configuration.joinToken
        var errors = RateLimitedLog(interval: .seconds(10))
        var notes = RateLimitedLog(interval: .seconds(10))
        var lastTrim = ContinuousClock.now
        var untrimmedBytes = 0
        // The block each reply's items are decoded into, handed back after each reply.
        var itemStorage: [Item] = []
        while true {
            if lifecycle.isLeaveRequested { session.requestLeave() }
            let preparing = ContinuousClock.now
            let action = session.next(now: preparing)
            lifecycle.registered(session.isRegistered)
            switch action {
            case .send(let request):
                let started = ContinuousClock.now
                var (reply, moved) = try await exchange(socket, request, errors: &errors, itemStorage: &itemStorage)
                let answered = ContinuousClock.now
                session.received(reply, now: answered)
                probe.exchanged(request, reply, session, started: started, logger: logger)
                itemStorage = reply.takeItemStorage()
                logger.debug("exchange", metadata: [
                    "prepare_ms": "\((started - preparing).formattedMilliseconds)", "round_trip_ms": "\((answered - started).formattedMilliseconds)",
                    "apply_ms": "\((ContinuousClock.now - answered).formattedMilliseconds)",
                ])
                untrimmedBytes += moved
                if untrimmedBytes >= Self.trimAfterBytes, ContinuousClock.now - lastTrim >= .milliseconds(250) {
                    lastTrim = .now
                    untrimmedBytes = 0
                    Self.returnFreedMemory()
                }
            case .wait(let duration):
                try await Task.sleep(for: duration)
            case .stop(let reason):
                logger.info("session over: \(reason)")
                return
            case .fail(let reason):
                throw Failure.refused(reason)
            }
            lifecycle.registered(session.isRegistered)
            for note in session.takeNotes() {
                switch note.level {
                case .info: logger.info("\(note.message)")
                case .warning: notes.log(note.message, to: logger)
                case .error: notes.log(note.message, level: .error, to: logger)
                }
            }
        }
    }
}

extension WorkerService {
    /// Bytes of requests and replies after which freed memory is given back (see
    /// ``returnFreedMemory()``).
    static let trimAfterBytes = 1 << 20

    /// Gives freed memory back to the system. Large blocks (checkpoint encodings, the polls
    /// that carry them, decoded batches) have mappings of their own and go back when freed
    /// (``mapLargeBlocks()``); this returns the free pages left among the small ones, which
    /// glibc keeps for reuse in the heap of whichever thread's arena they came from. Called
    /// once ``trimAfterBytes`` have moved since the last call, at most four times a second, so
    /// the cost (a walk of the heaps) stays small and an idle worker does not pay it.
    ///
    /// The trim runs on a Dispatch thread, not in the poll loop: a walk of the heaps can take
    /// milliseconds, which would delay the worker's next poll and every command in it. At most
    /// one runs at a time.
    static func returnFreedMemory() {
        #if os(Linux)
        guard !trimming.exchange(true, ordering: .acquiringAndReleasing) else { return }
        DispatchQueue.global(qos: .utility).async {
            _ = glibcMallocTrim(0)
            trimming.store(false, ordering: .releasing)
        }
        #endif
    }

    /// A trim is running (``returnFreedMemory()``).
    private static let trimming = Atomic<Bool>(false)

    /// Blocks of at least this many bytes get mappings of their own (see ``mapLargeBlocks()``).
    static let mappingThreshold: Int32 = 128 * 1024

    /// Serves every block of ``mappingThreshold`` bytes or more from a mapping of its own, so
    /// that freeing it gives its memory straight back to the system. glibc does so only until
    /// the first such block is freed: then it raises its threshold to that block's size, and a
    /// checkpoint round's encodings (half a MiB a partition at a million sensors), the polls
    /// that carry them and the decoded batches come from the heaps of whichever threads ran
    /// them, where they stay resident after they are freed. At a million sensors that held
    /// 15-45 MiB per worker between rounds (72 bytes a sensor at rest, 92 at peak, against 55
    /// with this; docs/benchmarks.md). Setting the threshold (`mallopt(M_MMAP_THRESHOLD)`)
    /// fixes it; the cost is a mapping and its page faults per large block, a few per poll.
    /// An operator's own setting (`MALLOC_MMAP_THRESHOLD_`, or `mmap_threshold` in
    /// `GLIBC_TUNABLES`) wins.
    static func mapLargeBlocks() {
        #if os(Linux)
        let environment = ProcessInfo.processInfo.environment
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil,
            environment["GLIBC_TUNABLES"]?.contains("mmap_threshold") != true
        else { return }
        _ = glibcMallopt(glibcMmapThreshold, mappingThreshold)
        #endif
    }
}

extension Duration {
    /// Milliseconds with two decimals, for log metadata.
    fileprivate var formattedMilliseconds: String {
        String(format: "%.2f", Double(components.seconds) * 1e3 + Double(components.attoseconds) / 1e15)
    }
}

#if os(Linux)
/// glibc's `malloc_trim(3)`, which Swift's Glibc module does not export (malloc.h).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32

/// glibc's `mallopt(3)` (malloc.h, which Swift's Glibc module does not export either).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

/// malloc.h's `M_MMAP_THRESHOLD`.
private let glibcMmapThreshold: Int32 = -3
#endif

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
