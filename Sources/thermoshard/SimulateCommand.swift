import ArgumentParser
import Control
import Foundation
import NNG
import Synchronization
import ThermoshardClient
import Wire

/// A closed-loop fleet of the seed's heaters, for demos and load.
///
/// Each heater starts at 42 degrees with the heater off and a setting of 45 ± 1; it warms 1
/// degree per simulated minute while on and cools 0.5 while off, follows the commands published
/// for it, and every 10 simulated minutes its desired temperature moves by a random step of
/// -5..+4 (the seed's simulator). Readings go out in binary batches.
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

    func validate() throws {
        guard sensors > 0 else { throw ValidationError("--sensors must be positive") }
        guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be positive") }
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed must be positive") }
        try Address.validate([("--ingest", ingest), ("--publish", publish)])
    }

    func run() async throws {
        let fleet = Mutex(Fleet(count: sensors, seed: seed))
        let commands = Atomic<Int>(0)
        let subscriber = try Socket(.sub)
        defer { subscriber.close() }
        try subscriber.subscribe(to: [])
        try await Endpoint(url: publish, flag: "--publish", connectTimeout: connectTimeout).connect(subscriber)
        let producer = try Socket(.req)
        defer { producer.close() }
        try await Endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout).connect(producer)

        let listener = Task {
            while !Task.isCancelled {
                guard let bytes = try? await subscriber.receive().bytes,
                      let event = try? CommandEvent.decodeFeedMessage(bytes)
                else { continue }
                fleet.withLock { $0.follow(sensor: event.sensor, action: event.action) }
                commands.add(1, ordering: .relaxed)
            }
        }
        defer { listener.cancel() }

        // Settings first, then readings.
        let settings = fleet.withLock { $0.settings() }
        for start in stride(from: 0, to: settings.count, by: 10_000) {
            _ = try await send(producer, Array(settings[start..<min(settings.count, start + 10_000)]))
        }
        let start = ContinuousClock.now
        var lastReport = start
        var sent = 0
        var rejected = 0
        let batchSize = max(1, min(1000, Int(rate / 20)))
        while duration.map({ ContinuousClock.now - start < .seconds($0) }) ?? true {
            let roundStart = ContinuousClock.now
            let (items, settingsChanged) = fleet.withLock { $0.step(count: batchSize, simulatedSeconds: Double(batchSize) / rate * speed) }
            if !settingsChanged.isEmpty { rejected += try await send(producer, settingsChanged) }
            rejected += try await send(producer, items)
            sent += items.count
            let target = Duration.seconds(Double(batchSize) / rate)
            let spent = ContinuousClock.now - roundStart
            if spent < target { try await Task.sleep(for: target - spent) }
            if ContinuousClock.now - lastReport >= .seconds(1) {
                lastReport = .now
                let stats = fleet.withLock { $0.stats() }
                let elapsed = Double((ContinuousClock.now - start).components.seconds)
                if json {
                    report(#"{"elapsed_s":\#(elapsed),"readings":\#(sent),"rejected":\#(rejected),"commands":\#(commands.load(ordering: .relaxed)),"heating":\#(stats.heating),"mean_error":\#(stats.meanError)}"#)
                } else {
                    report("t=\(Int(elapsed))s readings \(sent) commands \(commands.load(ordering: .relaxed)) heating \(stats.heating)/\(sensors) mean |temp - desired| \(String(format: "%.2f", stats.meanError))")
                }
            }
        }
    }

    /// One line of statistics, written at once (the output may be a log file or a pipe).
    private func report(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Sends items in one binary batch; returns how many were rejected. Sends it again while the
    /// coordinator refuses it with a retryable code (overloaded, shutting down); any other
    /// refusal ends the simulation.
    private func send(_ socket: Socket, _ items: [Item]) async throws -> Int {
        guard !items.isEmpty else { return 0 }
        var encoder = BinaryBatchEncoder(capacity: items.count * 33 + 16)
        for item in items { encoder.append(item) }
        let body = encoder.finish()
        for attempt in 0..<50 {
            try await socket.send(body, timeout: .seconds(10))
            let reply = try IngestReply.decode(try await socket.receive(timeout: .seconds(10)).bytes)
            if let error = reply.error {
                guard reply.retryable, attempt < 49 else {
                    throw ValidationError("ingest refused (\(reply.code?.rawValue ?? "no code")): \(error)")
                }
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            return reply.rejected.count
        }
        return items.count
    }
}

/// The simulated heaters and their settings.
struct Fleet: Sendable {
    var heaters: [HeaterModel]
    var desired: [Double]
    var next = 0
    var simulatedSeconds = 0.0
    var nextSettingChange = 600.0
    var random: SplitMix64

    init(count: Int, seed: UInt64) {
        // The seed's heaters start at 42 degrees; a spread of +-3 keeps them from switching in
        // lockstep.
        var random = SplitMix64(seed: seed)
        heaters = (0..<count).map { _ in HeaterModel(temperature: 39 + Double(random.next() % 601) / 100) }
        desired = Array(repeating: 45, count: count)
        self.random = random
    }

    func setting(_ index: Int) -> Item {
        .setting(sensor: UInt64(index + 1), Setting(unchecked: desired[index], up: 1, down: 1))
    }

    func settings() -> [Item] { heaters.indices.map(setting) }

    mutating func follow(sensor: UInt64, action: HeaterAction) {
        let index = Int(sensor) - 1
        guard heaters.indices.contains(index) else { return }
        heaters[index].follow(action)
    }

    /// The next `count` readings (round robin), advancing simulated time; and any setting changes.
    mutating func step(count: Int, simulatedSeconds elapsed: Double) -> ([Item], [Item]) {
        simulatedSeconds += elapsed
        var changed: [Item] = []
        if simulatedSeconds >= nextSettingChange {
            nextSettingChange += 600
            for index in desired.indices {
                desired[index] += Double(Int(random.next() % 10) - 5)
                changed.append(setting(index))
            }
        }
        // Each heater is read once per round of the fleet; advance by the time a round takes.
        let perHeater = elapsed * Double(heaters.count) / Double(count)
        var items: [Item] = []
        items.reserveCapacity(count)
        for _ in 0..<count {
            heaters[next].advance(seconds: perHeater)
            items.append(.reading(sensor: UInt64(next + 1), temperature: (heaters[next].temperature * 100).rounded() / 100))
            next = (next + 1) % heaters.count
        }
        return (items, changed)
    }

    func stats() -> (heating: Int, meanError: Double) {
        let heating = heaters.filter(\.heating).count
        let error = zip(heaters, desired).reduce(0.0) { $0 + abs($1.0.temperature - $1.1) } / Double(heaters.count)
        return (heating, error)
    }
}

struct SplitMix64: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Partitioner.mix64(state &- 0x9E37_79B9_7F4A_7C15)
    }
}
