import ArgumentParser
import Load
import ThermoshardClient

/// `thermoshard simulate`: the flags of a ``Load/Simulation`` (a closed-loop fleet of the
/// seed's heaters, for demos and load).
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate", abstract: "Run a closed-loop fleet of simulated heaters against the cluster.")

    @Option(help: "Number of heaters (sensors 1...N).") var sensors = 100
    @Option(help: "Readings per second, all heaters together.") var rate = 1000.0
    @Option(help: "Simulated seconds per real second.") var speed = 60.0
    @Option(help: "Stop after this many seconds (default: run until interrupted).") var duration: Double?
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "The coordinator's ingest address.") var ingest = "tcp://127.0.0.1:7600"
    @Option(help: "The coordinator's publish address.") var publish = "tcp://127.0.0.1:7601"
    @Flag(help: "Print one JSON line of statistics per second instead of text.") var json = false
    @Option(help: DurationArgument.connectTimeoutHelp)
    var connectTimeout = DurationArgument.defaultConnectTimeout
    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        guard sensors > 0 else { throw ValidationError("--sensors must be positive") }
        guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be positive") }
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed must be positive") }
        try Address.validate([("--ingest", ingest), ("--publish", publish)])
        _ = try security.endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout)
        _ = try security.endpoint(url: publish, flag: "--publish", connectTimeout: connectTimeout)
    }

    func run() async throws {
        try await Simulation(SimulationPlan(
            sensors: sensors, rate: rate, speed: speed, duration: duration, seed: seed,
            ingest: try security.endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout),
            publish: try security.endpoint(url: publish, flag: "--publish", connectTimeout: connectTimeout), json: json
        )).run()
    }
}
