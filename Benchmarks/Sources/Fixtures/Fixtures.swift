public import Control

/// Deterministic inputs for the benchmarks: the same bytes on every run and machine, so that
/// runs compare. Nothing here is measured.
public enum Fixtures {
    /// A fixed pseudo-random sequence (SplitMix64).
    public struct Generator: RandomNumberGenerator, Sendable {
        private var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            return Partitioner.mix64(state &- 0x9E37_79B9_7F4A_7C15)
        }
    }

    /// `count` distinct sensor IDs spread over the whole 64-bit range, as real IDs would be.
    public static func sensorIDs(_ count: Int, seed: UInt64 = 1) -> [SensorID] {
        // mix64 is a bijection, so distinct inputs give distinct IDs.
        (0..<UInt64(count)).map { Partitioner.mix64($0 &+ seed &* 0x1_0000_0000) }
    }

    /// The setting every benchmark sensor gets: 20 degrees, heater on below 19.5, off above 20.5.
    public static let setting = Setting(unchecked: 20, up: 0.5, down: 0.5)

    /// One setting per sensor, in order.
    public static func settings(for sensors: [SensorID]) -> [Item] {
        sensors.map { .setting(sensor: $0, setting) }
    }

    /// `count` readings, cycling over `sensors`, with temperatures of 15.00 to 25.00 degrees
    /// (two decimals): about half fall outside the band, so commands are due now and then.
    public static func readings(_ count: Int, sensors: [SensorID], seed: UInt64 = 2) -> [Item] {
        var rng = Generator(seed: seed)
        return (0..<count).map { i in
            .reading(sensor: sensors[i % sensors.count], temperature: Double(Int.random(in: 1500...2500, using: &rng)) / 100)
        }
    }

    /// Readings as a producer writes a JSON ingest request: `[{"sensor":N,"temperature":T},...]`.
    public static func jsonArray(_ items: [Item]) -> [UInt8] {
        var text = "["
        for (index, item) in items.enumerated() {
            if index > 0 { text += "," }
            switch item {
            case .reading(let sensor, let temperature):
                text += #"{"sensor":\#(sensor),"temperature":\#(temperature)}"#
            case .setting(let sensor, let s):
                text += #"{"sensor":\#(sensor),"desired":\#(s.desired),"up":\#(s.up),"down":\#(s.down)}"#
            }
        }
        text += "]"
        return Array(text.utf8)
    }

    /// A partition's state with `count` sensors, each with a setting and, for two thirds of them,
    /// a last command (on or off), as a running partition has.
    public static func partitionState(sensors count: Int, partition: Int = 0) -> PartitionState {
        let sensors = sensorIDs(count)
        var state = PartitionState(partition: partition)
        var offset: UInt64 = 0
        func apply(_ item: Item) {
            _ = try! state.apply(item, at: offset)
            offset += 1
        }
        for item in settings(for: sensors) { apply(item) }
        for (i, sensor) in sensors.enumerated() where i % 3 != 0 {
            apply(.reading(sensor: sensor, temperature: i % 3 == 1 ? 10 : 30))
        }
        return state
    }
}
