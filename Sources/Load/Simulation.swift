import Control
import Foundation
import Metrics
import Observability
public import ThermoshardClient
import Synchronization
public import Wire

/// What one simulation does (the validated flags of `thermoshard simulate`).
public struct SimulationPlan: Sendable {
    public var sensors: Int
    /// Readings per second, all heaters together.
    public var rate: Double
    /// Simulated seconds per real second.
    public var speed: Double
    /// Seconds to run; nil: until cancelled.
    public var duration: Double?
    public var seed: UInt64
    public var ingest: Endpoint
    public var publish: Endpoint
    /// One JSON line of statistics per second instead of text.
    public var json: Bool
    /// Where to send what it sees of control quality once a second (admin `observe`); nil: nowhere.
    public var admin: Endpoint?
    /// How many heaters to sample for the control-quality reports.
    public var observed = 8
    /// The simulator's name in its reports.
    public var name = "simulator"

    public init(sensors: Int, rate: Double, speed: Double, duration: Double?, seed: UInt64, ingest: Endpoint, publish: Endpoint, json: Bool) {
        self.sensors = sensors
        self.rate = rate
        self.speed = speed
        self.duration = duration
        self.seed = seed
        self.ingest = ingest
        self.publish = publish
        self.json = json
    }

    /// Readings per request: about 20 requests a second, 1...1000 readings each.
    public var batchSize: Int { max(1, min(1000, Int(rate / 20))) }
}

/// A closed-loop fleet of the seed's heaters (``Fleet``) run against the cluster: readings go
/// out in binary batches, the commands published for each heater switch it.
public struct Simulation: Sendable {
    /// Refused requests are sent again up to 50 times, 100 ms apart.
    static let retry = RetryPolicy(attempts: 50, firstPause: .milliseconds(100), maxPause: .milliseconds(100))

    public let plan: SimulationPlan

    public init(_ plan: SimulationPlan) { self.plan = plan }

    /// Called with each second's control-quality report (the simulator's own copy, e.g. for
    /// `--report FILE.svg`).
    public var onReport: @Sendable (ControlReport) -> Void = { _ in }

    private static let readings = Counter(label: MetricName.simulatorReadings)
    private static let commandsSeen = Counter(label: MetricName.simulatorCommands)
    private static let heating = Gauge(label: MetricName.simulatorHeating)
    private static let outOfBand = Gauge(label: MetricName.simulatorOutOfBand)
    private static let meanError = Gauge(label: MetricName.simulatorMeanError)

    /// Runs until the duration passes (or the task is cancelled), writing one line of
    /// statistics a second to `output`.
    public func run(output: @Sendable (String) -> Void = Simulation.standardOutput) async throws {
        let feed = try await FeedSubscriber(plan.publish)
        let result = await outcome {
            let producer = try await IngestConnection(plan.ingest, retry: Self.retry, timeout: .seconds(10))
            let result = await outcome { try await run(feed: feed, producer: producer, output: output) }
            await producer.close()
            return try result.get()
        }
        await feed.close()
        try result.get()
    }

    private func run(feed: FeedSubscriber, producer: IngestConnection, output: (String) -> Void) async throws {
        let fleet = Mutex(Fleet(count: plan.sensors, seed: plan.seed))
        let commands = Atomic<Int>(0)
        let listener = Task {
            while !Task.isCancelled {
                guard let events = try? await feed.nextEvents() else { continue }
                fleet.withLock { fleet in
                    for event in events { fleet.follow(sensor: event.sensor, action: event.action) }
                }
                commands.add(events.count, ordering: .relaxed)
                Self.commandsSeen.increment(by: events.count)
            }
        }
        defer { listener.cancel() }

        // Settings first, then readings.
        let settings = fleet.withLock { $0.settings() }
        for start in stride(from: 0, to: settings.count, by: 10_000) {
            _ = try await send(producer, settings[start..<min(settings.count, start + 10_000)])
        }
        let start = ContinuousClock.now
        var lastReport = start
        var sent = 0
        var rejected = 0
        let batchSize = plan.batchSize
        let observed = fleet.withLock { $0.sampleIndices(plan.observed) }
        var outOfBandSeconds = 0.0
        var lastObservation = start
        let reporting = InFlight()
        while plan.duration.map({ ContinuousClock.now - start < .seconds($0) }) ?? true {
            let roundStart = ContinuousClock.now
            let (items, settingsChanged) = fleet.withLock { $0.step(count: batchSize, simulatedSeconds: Double(batchSize) / plan.rate * plan.speed) }
            if !settingsChanged.isEmpty { rejected += try await send(producer, settingsChanged) }
            let sendStart = ContinuousClock.now
            rejected += try await send(producer, items)
            Timings.simulatorSend.record(since: sendStart)
            sent += items.count
            Self.readings.increment(by: items.count)
            let target = Duration.seconds(Double(batchSize) / plan.rate)
            let spent = ContinuousClock.now - roundStart
            if spent < target { try await Task.sleep(for: target - spent) }
            if ContinuousClock.now - lastReport >= .seconds(1) {
                lastReport = .now
                let (stats, fraction, samples, simulated) = fleet.withLock { ($0.stats(), $0.outOfBandFraction, $0.samples(observed), $0.simulatedSeconds) }
                let now = ContinuousClock.now
                outOfBandSeconds += fraction * (now - lastObservation).seconds
                lastObservation = now
                let report = ControlReport(
                    source: plan.name, timeMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()), simulatedSeconds: simulated,
                    samples: samples, sensors: plan.sensors, outOfBand: fraction,
                    outOfBandTime: outOfBandSeconds / max(0.001, (now - start).seconds), heating: stats.heating, meanError: stats.meanError)
                Self.heating.record(stats.heating)
                Self.outOfBand.record(fraction)
                Self.meanError.record(stats.meanError)
                onReport(report)
                // Sent on the side: a slow or absent admin socket never holds the readings up,
                // and at most one report is in flight.
                if var admin = plan.admin, reporting.begin() {
                    // Quietly: no "waiting for the coordinator" line for a report.
                    admin.connectTimeout = Endpoint.quietWait
                    Task {
                        _ = try? await AdminClient(admin, timeout: .seconds(1)).raw(AdminRequest(command: "observe", control: report))
                        reporting.end()
                    }
                }
                let line = SimulationStats(
                    elapsedSeconds: (ContinuousClock.now - start).components.seconds, readings: sent, rejected: rejected,
                    commands: commands.load(ordering: .relaxed), heating: stats.heating, sensors: plan.sensors, meanError: stats.meanError)
                output(plan.json ? line.json() : line.text())
            }
        }
    }

    /// Sends items in one binary batch; returns how many were rejected. A refusal that is not
    /// retried (``retry``) ends the simulation.
    private func send(_ producer: IngestConnection, _ items: some Collection<Item>) async throws -> Int {
        guard !items.isEmpty else { return 0 }
        let reply = try await producer.send(items).reply
        if let error = reply.error {
            throw LoadError("ingest refused (\(reply.code?.rawValue ?? "no code")): \(error)")
        }
        return reply.rejected.count
    }

    /// Writes a line to standard output at once (the output may be a log file or a pipe).
    public static let standardOutput: @Sendable (String) -> Void = { line in
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

/// One second's line of a simulation's statistics.
public struct SimulationStats: Sendable, Hashable {
    public var elapsedSeconds: Int64
    public var readings: Int
    public var rejected: Int
    public var commands: Int
    public var heating: Int
    public var sensors: Int
    /// Mean |temperature - desired| over the fleet.
    public var meanError: Double

    public init(elapsedSeconds: Int64, readings: Int, rejected: Int, commands: Int, heating: Int, sensors: Int, meanError: Double) {
        self.elapsedSeconds = elapsedSeconds
        self.readings = readings
        self.rejected = rejected
        self.commands = commands
        self.heating = heating
        self.sensors = sensors
        self.meanError = meanError
    }

    public func json() -> String {
        #"{"elapsed_s":\#(Double(elapsedSeconds)),"readings":\#(readings),"rejected":\#(rejected),"commands":\#(commands),"heating":\#(heating),"mean_error":\#(meanError)}"#
    }

    public func text() -> String {
        "t=\(elapsedSeconds)s readings \(readings) commands \(commands) heating \(heating)/\(sensors) mean |temp - desired| \(String(format: "%.2f", meanError))"
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Whether a control report is on its way (at most one at a time).
final class InFlight: Sendable {
    private let flag = Atomic<Bool>(false)
    func begin() -> Bool { flag.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
    func end() { flag.store(false, ordering: .releasing) }
}
