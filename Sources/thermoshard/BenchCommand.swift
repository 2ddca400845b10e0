public import ArgumentParser
import Load

/// `thermoshard bench`: the flags of a ``Load/Bench`` run, and its report.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Drive load against a running cluster; report throughput and reading-to-command latency.",
        discussion: """
            Sends a setting (desired 20, up 0.5, down 0.5) and a priming reading for sensors 1...N, \
            then readings that alternate each sensor between 10.0 and 30.0, so that every reading \
            causes a heater command. Reports items sent and accepted, the rate at which the \
            coordinator accepted them, the end-to-end rate (until its status counters show every \
            accepted item processed) and the latency from sending a reading to receiving its \
            command on the publish feed, as an HdrHistogram in microseconds. Without --rate, \
            --connections REQ sockets send as fast as they can, one request in flight each; each \
            connection drives its own sensors, so each sensor's readings arrive in order. Run it \
            against an otherwise idle cluster: it replaces the settings of sensors 1...N and of \
            sensor 18446744073709551615 (used to check that the feed is connected).
            """
    )

    @Option(help: "The coordinator's ingest address.")
    var ingest: String

    @Option(help: "The coordinator's publish address.")
    var publish = "tcp://127.0.0.1:7601"

    @Option(help: "The coordinator's admin address.")
    var admin = "tcp://127.0.0.1:7603"

    @Option(help: "Number of sensors (IDs 1...N).")
    var sensors = 1000

    @Option(help: "Send this many readings in all (instead of --duration).")
    var readings: Int?

    @Option(help: "Send readings for this many seconds (default 10; instead of --readings).")
    var duration: Double?

    @Option(help: "Items per second, all connections together (default: as fast as possible).")
    var rate: Double?

    @Option(help: "The request format: binary (binary batches) or json (JSON arrays).")
    var format = BenchFormat.binary

    @Option(help: "Items per request (default 1000 for binary, 200 for json; with --rate, at most rate/100 per connection).")
    var batch: Int?

    @Option(help: "Concurrent REQ sockets, one request in flight each.")
    var connections = 2

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        guard (1...10_000_000).contains(sensors) else { throw ValidationError("--sensors must be between 1 and 10000000") }
        if readings != nil, duration != nil {
            throw ValidationError("--readings and --duration exclude each other: give one (or neither, for 10 seconds)")
        }
        if let readings, readings <= 0 { throw ValidationError("--readings must be positive") }
        if let duration, !(duration > 0 && duration <= 86_400) {
            throw ValidationError("--duration must be a number of seconds above 0 and at most 86400")
        }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number of items per second") }
        if let batch, !(1...100_000).contains(batch) {
            throw ValidationError("--batch must be between 1 and 100000 (the coordinator's limit per request)")
        }
        guard (1...256).contains(connections) else { throw ValidationError("--connections must be between 1 and 256") }
        guard connections <= sensors else {
            throw ValidationError("--connections (\(connections)) must not exceed --sensors (\(sensors)): each connection drives its own sensors")
        }
        try Address.validate([("--ingest", ingest), ("--publish", publish), ("--admin", admin)])
        _ = try security.tls.load(dialing: [("--ingest", ingest), ("--publish", publish), ("--admin", admin)])
        _ = try CredentialFiles.token(security.tokenFile)
    }

    func run() async throws {
        var plan = BenchPlan(
            ingest: ingest, publish: publish, admin: admin, sensors: sensors, readings: readings,
            duration: readings == nil ? duration ?? 10 : nil, rate: rate, format: format,
            batch: batch ?? BenchPlan.defaultBatch(format: format, rate: rate, connections: connections),
            connections: connections)
        plan.tls = try security.tls.load(dialing: [("--ingest", ingest), ("--publish", publish), ("--admin", admin)])
        plan.token = try CredentialFiles.token(security.tokenFile)
        let report = try await Bench(plan).run()
        print(json ? report.json() : report.table())
        if report.endToEndSeconds == nil { throw ExitCode.failure }
    }
}

extension BenchFormat: ExpressibleByArgument {}
