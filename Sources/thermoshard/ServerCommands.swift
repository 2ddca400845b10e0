import ArgumentParser
import Coordinator
import CoordinatorCore
import Foundation
import Logging
import NNG
import Observability
import ObservabilityHTTP
import ServiceLifecycle
import Storage
import Wire
import Worker

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: ingest, partition logs, assignment, checkpoints, command feed.",
        discussion: ConfigurationSources.precedence
    )

    @Option(help: "Data directory (created if missing): cluster parameters and checkpoints.")
    var data: String

    @Option(help: "Partition count for a new data directory (fixed afterwards). Default 64.")
    var partitions: Int?

    @Option(help: "Ingest address (nng REP): producers send JSON or binary batches here.")
    var ingest = "tcp://127.0.0.1:7600"

    @Option(help: "Publish address (nng PUB): heater commands as '<sensor> <json>'.")
    var publish = "tcp://127.0.0.1:7601"

    @Option(help: "Publish format: text (a message per command, '<sensor> <json>', subscribe per sensor; up to about 150,000 commands/s) or binary (up to 2,048 commands a message, for fast subscribers; docs/protocol.md).")
    var feed = FeedArgument.text

    @Option(help: "Cluster address (nng REP): workers connect here.")
    var cluster = "tcp://127.0.0.1:7602"

    @Option(help: "Admin address (nng REP): status and control for the CLI.")
    var admin = "tcp://127.0.0.1:7603"

    @Option(help: "Declare a silent worker dead after this long.")
    var heartbeatTimeout = DurationArgument(.milliseconds(800))

    @Option(help: "How often workers checkpoint each partition.")
    var checkpointInterval = DurationArgument(.seconds(1))

    @Option(help: "Items waiting for workers before producers are refused (backpressure).")
    var maxBuffered = 4_000_000

    @Option(help: "When the journal and command log are synced to disk: always (before every acknowledgement), interval (every --fsync-interval and before each checkpoint), never. See docs/guarantees.md.")
    var fsync = FsyncArgument.interval

    @Option(help: "Under --fsync interval, the longest time between syncs.")
    var fsyncInterval = DurationArgument(.milliseconds(100))

    @Option(help: "Ingest journal segment size in MiB (old segments are removed once checkpoints cover them).")
    var segmentSize = 64

    @Option(help: "Open connections allowed on the ingest socket; more are closed as they arrive (all connection limits are scaled down at start to fit the file descriptor limit).")
    var maxIngestConnections = 1024

    @Option(help: "Open connections allowed on the publish (PUB) socket.")
    var maxSubscriberConnections = 1024

    @Option(help: "Open connections allowed on the cluster socket (workers).")
    var maxClusterConnections = 256

    @Option(help: "Open connections allowed on the admin socket.")
    var maxAdminConnections = 128

    @Option(help: "Close a connection that sends no complete request this long after it opens (ingest, cluster, admin).")
    var silentConnectionTimeout = DurationArgument(.seconds(5))

    @Option(help: "Close a connection that sends nothing for this long (ingest, cluster, admin); nng clients reconnect by themselves.")
    var idleConnectionTimeout = DurationArgument(.seconds(120))

    @Option(help: ArgumentHelp(stringLiteral: HTTPArgument.help + " The coordinator also serves the dashboard at /."))
    var http = HTTPArgument(HTTPAddress(host: "127.0.0.1", port: 7604))
    @OptionGroup var tls: TLSOptions

    @Option(help: ArgumentHelp("A file holding the join token every worker's hello must carry (at least 16 bytes, e.g. openssl rand -hex 32).", valueName: "file"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("Producers' credentials: lines 'TOKEN NAME readings|settings|both'; then every ingest request needs one (docs/security.md).", valueName: "file"))
    var producersFile: String?

    @Option(help: ArgumentHelp("Operators' tokens: lines 'read TOKEN' (status, commands) and 'write TOKEN' (also drain); then every admin request needs one.", valueName: "file"))
    var adminTokenFile: String?

    @Flag(help: "Start even when an address beyond loopback is unprotected (no TLS or tokens where docs/security.md asks for them): anyone who reaches it can use it.")
    var insecure = false

    @OptionGroup var logging: LoggingOptions

    /// The TLS configuration and credentials, read and checked.
    func security() throws -> (tls: TLSConfiguration?, token: String?, producers: ProducerCredentials?, admin: AdminCredentials?) {
        let tls = try self.tls.load(listening: [("--ingest", ingest), ("--publish", publish), ("--cluster", cluster), ("--admin", admin)],
                                    clientCertificates: ["--cluster", "--publish"])
        let token = try CredentialFiles.token(tokenFile)
        let producers = try CredentialFiles.producers(producersFile)
        let operators = try CredentialFiles.admin(adminTokenFile)
        var problems: [String] = []
        if Exposure.isExposed(cluster), !TLSConfiguration.isTLS(cluster), token == nil {
            problems.append("--cluster \(cluster) lets any host join as a worker (use tls+tcp:// with --tls-cert/--tls-key/--tls-ca, or --token-file)")
        }
        if Exposure.isExposed(ingest), producers == nil {
            problems.append("--ingest \(ingest) takes readings and settings from anyone (use --producers-file)")
        }
        if Exposure.isExposed(publish), !TLSConfiguration.isTLS(publish) {
            problems.append("--publish \(publish) sends heater commands to anyone (use tls+tcp://: subscribers then need certificates signed by --tls-ca)")
        }
        if Exposure.isExposed(admin), operators == nil {
            problems.append("--admin \(admin) lets anyone drain workers and read the command log (use --admin-token-file)")
        }
        try Exposure.check(problems, insecure: insecure)
        return (tls, token, producers, operators)
    }

    func validate() throws {
        if let partitions, !(1...65536).contains(partitions) {
            throw ValidationError("--partitions must be between 1 and 65536")
        }
        guard heartbeatTimeout.duration >= .milliseconds(100) else {
            throw ValidationError("--heartbeat-timeout must be at least 100ms")
        }
        guard checkpointInterval.duration >= .milliseconds(10) else {
            throw ValidationError("--checkpoint-interval must be at least 10ms")
        }
        guard maxBuffered > 0 else { throw ValidationError("--max-buffered must be positive") }
        guard (1...4096).contains(segmentSize) else { throw ValidationError("--segment-size must be between 1 and 4096 (MiB)") }
        for (flag, value) in [("--max-ingest-connections", maxIngestConnections), ("--max-subscriber-connections", maxSubscriberConnections),
                              ("--max-cluster-connections", maxClusterConnections), ("--max-admin-connections", maxAdminConnections)] {
            guard (1...1_000_000).contains(value) else { throw ValidationError("\(flag) must be between 1 and 1000000") }
        }
        guard silentConnectionTimeout.duration >= .milliseconds(100) else { throw ValidationError("--silent-connection-timeout must be at least 100ms") }
        guard idleConnectionTimeout.duration >= heartbeatTimeout.duration else {
            throw ValidationError("--idle-connection-timeout must be at least --heartbeat-timeout (a worker polls more often than that)")
        }
        guard fsyncInterval.duration >= .milliseconds(1) else { throw ValidationError("--fsync-interval must be at least 1ms") }
        try Address.validate([("--ingest", ingest), ("--publish", publish), ("--cluster", cluster), ("--admin", admin)], listening: true)
        _ = try security()
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "thermoshard.coordinator", command: "coordinator")
        MetricsExport.bootstrap()
        var configuration = CoordinatorConfiguration(dataDirectory: data)
        configuration.partitions = partitions
        configuration.ingestURL = ingest
        configuration.publishURL = publish
        configuration.clusterURL = cluster
        configuration.adminURL = admin
        configuration.heartbeatTimeout = heartbeatTimeout.duration
        configuration.pollWait = min(.milliseconds(100), heartbeatTimeout.duration / 4)
        configuration.checkpointInterval = checkpointInterval.duration
        configuration.maxBufferedItems = maxBuffered
        configuration.fsync = fsync.policy
        configuration.feedFormat = feed.format
        configuration.fsyncInterval = fsyncInterval.duration
        configuration.segmentBytes = segmentSize << 20
        configuration.maxConnections = .init(ingest: maxIngestConnections, publish: maxSubscriberConnections,
                                             cluster: maxClusterConnections, admin: maxAdminConnections)
        configuration.silentConnectionTimeout = silentConnectionTimeout.duration
        configuration.idleConnectionTimeout = idleConnectionTimeout.duration
        (configuration.tls, configuration.joinToken, configuration.producers, configuration.adminCredentials) = try security()
        let service = CoordinatorService(configuration: configuration, logger: logger)
        try await runService(service, http.address.map { HTTPListener.coordinator(service, at: $0, logger: logger) }, logger: logger)
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: it registers with the coordinator, runs the controller for its partitions and checkpoints them.",
        discussion: ConfigurationSources.precedence
    )

    @Option(help: "The coordinator's cluster address.")
    var coordinator = "tcp://127.0.0.1:7602"

    @Option(help: "This worker's name (default: host-pid). Unique in the cluster.")
    var id: String?

    @Option(help: "On SIGTERM, how long to try handing partitions over before exiting anyway (the coordinator then reassigns them after its heartbeat timeout).")
    var leaveTimeout = DurationArgument(.seconds(5))

    @Option(help: ArgumentHelp(stringLiteral: HTTPArgument.help + " Off by default on workers."))
    var http = HTTPArgument(nil)
    @OptionGroup var tls: TLSOptions

    @Option(help: ArgumentHelp("A file holding the cluster's join token (the coordinator's --token-file), sent in the hello.", valueName: "file"))
    var tokenFile: String?

    @Flag(help: "Dial a coordinator beyond loopback without TLS or a join token.")
    var insecure = false

    @OptionGroup var logging: LoggingOptions

    func security() throws -> (tls: TLSConfiguration?, token: String?) {
        let tls = try self.tls.load(dialing: [("--coordinator", coordinator)])
        if let tls, TLSConfiguration.isTLS(coordinator), !tls.hasOwnCertificate {
            throw ValidationError("--coordinator \(coordinator) dials with TLS: the coordinator requires a worker certificate (--tls-cert, --tls-key)")
        }
        let token = try CredentialFiles.token(tokenFile)
        var problems: [String] = []
        if Exposure.isExposed(coordinator), !TLSConfiguration.isTLS(coordinator), token == nil {
            problems.append("--coordinator \(coordinator) is dialled in plain TCP without a join token: anyone on the path can read and forge this worker's traffic (use tls+tcp:// with --tls-cert/--tls-key/--tls-ca, or --token-file)")
        }
        try Exposure.check(problems, insecure: insecure)
        return (tls, token)
    }

    func validate() throws {
        try Address.validate(coordinator, flag: "--coordinator")
        _ = try security()
    }

    func run() async throws {
        let name = id ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        var logger = logging.bootstrap(label: "thermoshard.worker", command: "worker")
        MetricsExport.bootstrap()
        logger[metadataKey: "worker"] = "\(name)"
        var configuration = WorkerConfiguration(id: name)
        configuration.coordinatorURL = coordinator
        configuration.leaveTimeout = leaveTimeout.duration
        (configuration.tls, configuration.joinToken) = try security()
        let service = WorkerService(configuration: configuration, logger: logger)
        try await runService(service, http.address.map { HTTPListener.worker(service, at: $0, logger: logger) }, logger: logger)
    }
}

/// Runs a process's service, and its HTTP listener if it has one, until the service ends,
/// shutting both down gracefully on SIGTERM or SIGINT (or when either ends).
func runService(_ service: some Service, _ http: ObservabilityServer? = nil, logger: Logger) async throws {
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
        .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
    ]
    if let http {
        services.append(.init(service: http, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
    }
    let group = ServiceGroup(
        configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
    )
    do {
        try await group.run()
    } catch {
        logger.critical("\(error)")
        if NNGProcess.hasUnfinishedClose { NNGProcess.exit(1) }
        throw ExitCode.failure
    }
    // A close stuck in libnng would also stall its exit-time cleanup: leave without it.
    if NNGProcess.hasUnfinishedClose { NNGProcess.exit(0) }
}
