import ArgumentParser
import Foundation
import Load
import Logging
import Observability
import ObservabilityHTTP
import Synchronization
import ThermoshardClient
import Wire

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
    @Option(help: "The coordinator's admin address: what the simulator sees of control quality goes there once a second (admin observe) for the dashboard; off to send nothing.")
    var admin = "tcp://127.0.0.1:7603"
    @Option(help: "How many heaters to sample for the control-quality reports (at most 64).") var observe = 8
    @Option(help: "Write the control-quality picture (temperature against band, heater on/off, the fleet out of band) to this SVG file, every 5 seconds and at the end.")
    var report: String?
    @Option(help: ArgumentHelp(stringLiteral: HTTPArgument.help + " Off by default on the simulator."))
    var http = HTTPArgument(nil)
    @Option(help: DurationArgument.connectTimeoutHelp)
    var connectTimeout = DurationArgument.defaultConnectTimeout
    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        guard sensors > 0 else { throw ValidationError("--sensors must be positive") }
        guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be positive") }
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed must be positive") }
        try Address.validate([("--ingest", ingest), ("--publish", publish)])
        if admin != "off" { try Address.validate(admin, flag: "--admin") }
        guard (0...ControlReport.maximumSamples).contains(observe) else { throw ValidationError("--observe must be between 0 and \(ControlReport.maximumSamples)") }
        if let report, !report.lowercased().hasSuffix(".svg") { throw ValidationError("--report writes SVG: give a file name ending in .svg") }
        _ = try security.endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout)
        _ = try security.endpoint(url: publish, flag: "--publish", connectTimeout: connectTimeout)
    }

    func run() async throws {
        MetricsExport.bootstrap()
        var plan = SimulationPlan(
            sensors: sensors, rate: rate, speed: speed, duration: duration, seed: seed,
            ingest: try security.endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout),
            publish: try security.endpoint(url: publish, flag: "--publish", connectTimeout: connectTimeout), json: json
        )
        plan.admin = admin == "off" ? nil : try security.endpoint(url: admin, flag: "--admin", connectTimeout: connectTimeout)
        plan.observed = observe
        var simulation = Simulation(plan)
        let history = Mutex(ControlHistory())
        let path = report
        simulation.onReport = { report in
            let count = history.withLock { history in
                history.append(report)
                return history.reports.count
            }
            if let path, count % 5 == 0 { Self.write(history.withLock { $0.reports }, to: path) }
        }
        let server = http.address.map { HTTPListener.simulator(at: $0, logger: Logger(label: "thermoshard.simulate")) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let server { group.addTask { try await server.run() } }
            group.addTask { [simulation] in try await simulation.run() }
            // The simulation ends (its duration passed, or it failed): stop the listener too.
            defer { group.cancelAll() }
            try await group.next()
        }
        if let path { Self.write(history.withLock { $0.reports }, to: path) }
    }

    /// Writes the picture atomically (a reader never sees half a file).
    static func write(_ reports: [ControlReport], to path: String) {
        let svg = ControlChartSVG.render(reports)
        do {
            try Data(svg.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("cannot write \(path): \(error)\n".utf8))
        }
    }
}
