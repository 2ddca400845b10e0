import Glibc
import Logging
import NNG
import Synchronization
import Wire

/// The coordinator's four listening sockets, their options and connection limits, and the one
/// place that closes them.
struct Sockets: Sendable {
    let ingest: Socket
    let publish: Socket
    let cluster: Socket
    let admin: Socket
    let clusterPipeEvents: AsyncStream<PipeEvent>
    let ingestInFlight = InFlight()
    let limits: FileDescriptorBudget.Limits
    private let openContexts = SharedContexts()

    /// In the order they close: stop taking input first, answer workers and readers last.
    var all: [Socket] { [ingest, admin, cluster, publish] }

    init(_ configuration: CoordinatorConfiguration, logger: Logger) throws {
        let limits = FileDescriptorBudget.connectionLimits(configuration, logger: logger)
        self.limits = limits
        ingest = try Socket(.rep)
        // nng drops a connection whose message exceeds its limit without a word; keep that for
        // absurd sizes and answer merely oversized requests with a clear error instead.
        try ingest.setReceiveMaxSize(configuration.maxRequestBytes * 2)
        ingest.limitConnections(limits.ingest)
        publish = try Socket(.pub)
        try publish.setSendBuffer(8192)
        publish.limitConnections(limits.publish)
        cluster = try Socket(.rep)
        try cluster.setReceiveMaxSize(ClusterProtocol.maximumPollSize)
        cluster.limitConnections(limits.cluster)
        clusterPipeEvents = cluster.pipeEvents()
        admin = try Socket(.rep)
        try admin.setReceiveMaxSize(1 << 16)
        admin.limitConnections(limits.admin)
    }

    func listen(_ configuration: CoordinatorConfiguration) throws {
        for (socket, url, name) in [(ingest, configuration.ingestURL, "ingest"), (publish, configuration.publishURL, "publish"),
                                    (cluster, configuration.clusterURL, "cluster"), (admin, configuration.adminURL, "admin")] {
            // The cluster port and the feed take certified peers only; ingest and admin clients
            // authenticate with tokens (docs/security.md).
            let tls = configuration.tls?.with(authMode: name == "cluster" || name == "publish" ? .required : .none)
            do {
                try socket.listen(url, tls: tls)
            } catch {
                throw StartupError("cannot listen on \(url) (\(name)): \(error)")
            }
        }
    }

    /// `count` contexts on `socket` (fewer only if nng cannot open more), closed before it.
    func contexts(_ socket: Socket, _ count: Int) -> [Context] {
        let made = (0..<count).compactMap { _ in try? socket.makeContext() }
        openContexts.append(made)
        return made
    }

    func closeSilentConnections() {
        for socket in all { socket.closeSilentConnections() }
    }

    var statusConnections: [String: StatusReport.Connections] {
        var out: [String: StatusReport.Connections] = [:]
        for (name, socket, limits) in [("ingest", ingest, limits.ingest), ("publish", publish, limits.publish),
                                       ("cluster", cluster, limits.cluster), ("admin", admin, limits.admin)] {
            let stats = socket.connectionStats
            out[name] = .init(open: stats.open, limit: limits.maximum, refused: stats.refused, closedSilent: stats.closedSilent)
        }
        return out
    }

    /// Closes every socket, once, in order, on nng's blocking-call thread.
    /// Closes every socket, once, in order, on nng's blocking-call thread; gives up waiting
    /// after `timeout` (see ``Socket/close(_:timeout:)``) and says so.
    func close(timeout: Duration = .seconds(2), logger: Logger) async {
        // Contexts first: with none receiving, no pipe's receive is restarted while the
        // sockets close, which is the race that can wedge libnng 1.5.2's close.
        let contextsClosed = await Context.close(openContexts.all, timeout: timeout)
        let socketsClosed = contextsClosed ? await Socket.close(all, timeout: timeout) : false
        if !socketsClosed {
            logger.warning("nng did not finish closing the sockets within \(timeout) (a known libnng 1.5.2 race, nanomsg/nng#1813); the disk is flushed and the process exits without waiting for it")
        }
    }
}

/// The contexts opened on the sockets, to close before them.
final class SharedContexts: Sendable {
    private let contexts = Mutex<[Context]>([])
    func append(_ more: [Context]) { contexts.withLock { $0.append(contentsOf: more) } }
    var all: [Context] { contexts.withLock { $0 } }
}

/// Requests received and not yet answered on one socket.
final class InFlight: Sendable {
    private let value = Atomic<Int>(0)
    func begin() { value.add(1, ordering: .relaxed) }
    func end() { value.subtract(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// How the coordinator spends its file descriptors: it raises the soft limit as far as the
/// hard limit allows, keeps a reserve for the data directory (journal, command log,
/// checkpoints) and splits the rest between its sockets' connections, so that no crowd of
/// connections can make a checkpoint's `open` fail.
enum FileDescriptorBudget {
    /// Descriptors kept for files, nng's own and the runtime's.
    static let reserve = 256

    struct Limits: Sendable {
        var ingest, publish, cluster, admin: ConnectionLimits
    }

    /// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the soft limit in force.
    static func raiseSoftLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            // Some systems report an unlimited hard limit that setrlimit refuses: cap it.
            raised.rlim_cur = min(limit.rlim_max, 1 << 20)
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    static func connectionLimits(_ configuration: CoordinatorConfiguration, logger: Logger) -> Limits {
        let available = raiseSoftLimit() - reserve
        var wanted = [configuration.maxConnections.ingest, configuration.maxConnections.publish,
                      configuration.maxConnections.cluster, configuration.maxConnections.admin]
        let total = wanted.reduce(0, +)
        if total > available {
            let scaled = wanted.map { max(4, $0 * max(0, available) / total) }
            logger.warning("too few file descriptors for the configured connection limits; scaled down", metadata: [
                "descriptors_for_connections": "\(available)", "wanted": "\(total)",
                "ingest": "\(scaled[0])", "publish": "\(scaled[1])", "cluster": "\(scaled[2])", "admin": "\(scaled[3])",
            ])
            wanted = scaled
        }
        let silent = configuration.silentConnectionTimeout
        let idle = configuration.idleConnectionTimeout
        return Limits(
            ingest: ConnectionLimits(maximum: wanted[0], silentTimeout: silent, idleTimeout: idle),
            // Subscribers never send: a PUB connection is never silent by mistake.
            publish: ConnectionLimits(maximum: wanted[1]),
            // A registered worker polls every few hundred ms; one that stops is dead anyway.
            cluster: ConnectionLimits(maximum: wanted[2], silentTimeout: silent, idleTimeout: idle),
            admin: ConnectionLimits(maximum: wanted[3], silentTimeout: silent, idleTimeout: idle)
        )
    }
}
