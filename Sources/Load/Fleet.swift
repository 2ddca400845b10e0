public import Control

/// The simulated heaters and their settings: the seed's heaters, each starting near 42 degrees
/// with the heater off and a setting of 45 ± 1, warming 1 degree per simulated minute while
/// on and cooling 0.5 while off; every 10 simulated minutes each desired temperature moves by
/// a random step of -5..+4.
public struct Fleet: Sendable {
    public var heaters: [HeaterModel]
    public var desired: [Double]
    public private(set) var next = 0
    public private(set) var simulatedSeconds = 0.0
    public private(set) var nextSettingChange = 600.0
    public private(set) var random: SplitMix64

    public init(count: Int, seed: UInt64) {
        // The seed's heaters start at 42 degrees; a spread of +-3 keeps them from switching in
        // lockstep.
        var random = SplitMix64(seed: seed)
        heaters = (0..<count).map { _ in HeaterModel(temperature: 39 + Double(random.next() % 601) / 100) }
        desired = Array(repeating: 45, count: count)
        self.random = random
    }

    public func setting(_ index: Int) -> Item {
        .setting(sensor: UInt64(index + 1), Setting(unchecked: desired[index], up: 1, down: 1))
    }

    public func settings() -> [Item] { heaters.indices.map(setting) }

    public mutating func follow(sensor: UInt64, action: HeaterAction) {
        let index = Int(sensor) - 1
        guard heaters.indices.contains(index) else { return }
        heaters[index].follow(action)
    }

    /// The next `count` readings (round robin), advancing simulated time; and any setting changes.
    public mutating func step(count: Int, simulatedSeconds elapsed: Double) -> ([Item], [Item]) {
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

    public func stats() -> (heating: Int, meanError: Double) {
        let heating = heaters.filter(\.heating).count
        let error = zip(heaters, desired).reduce(0.0) { $0 + abs($1.0.temperature - $1.1) } / Double(heaters.count)
        return (heating, error)
    }
}

