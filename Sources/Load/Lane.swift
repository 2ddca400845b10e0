public import Control
import Wire

/// The sensors one connection drives (IDs `index + 1`, then every `lanes`-th) and where it is in
/// its stream of readings: round robin over its sensors, round `k` sending each its reading k.
public struct Lane: Sendable {
    public let first: Int
    public let stride: Int
    /// How many sensors this lane drives.
    public let count: Int
    private var slot = 0
    private var round = 0

    public init(index: Int, of lanes: Int, sensors: Int) {
        first = index + 1
        stride = lanes
        count = (sensors - index + lanes - 1) / lanes
    }

    /// The next reading: its sensor ID and its number among that sensor's readings.
    @inline(__always)
    public mutating func next() -> (sensor: Int, reading: Int) {
        let sensor = first + slot * stride
        let reading = round
        slot += 1
        if slot == count {
            slot = 0
            round += 1
        }
        return (sensor, reading)
    }

    /// Reading k: 10.0 (heater on) for even k, 30.0 (off) for odd k; the priming reading is 30.0.
    @inline(__always)
    public static func temperature(reading: Int) -> Double { reading & 1 == 0 ? 10 : 30 }

    /// The command reading k causes.
    @inline(__always)
    public static func action(reading: Int) -> HeaterAction { reading & 1 == 0 ? .on : .off }

    /// The next `count` readings as one request body in `format`.
    public mutating func request(_ count: Int, format: BenchFormat) -> [UInt8] {
        switch format {
        case .binary:
            var encoder = BinaryBatchEncoder(capacity: BinaryBatch.headerSize + count * BinaryBatch.readingSize)
            for _ in 0..<count {
                let (sensor, reading) = next()
                encoder.append(.reading(sensor: SensorID(truncatingIfNeeded: sensor), temperature: Self.temperature(reading: reading)))
            }
            return encoder.finish()
        case .json:
            // `[{"sensor":1,"temperature":10.0},...]`: at most 51 bytes an item (a 20-digit ID).
            var json = JSONWriter(capacity: 2 + count * 51)
            json.beginArray()
            for _ in 0..<count {
                let (sensor, reading) = next()
                json.beginObject()
                json.key("sensor"); json.value(UInt64(truncatingIfNeeded: sensor))
                json.key("temperature"); json.value(Self.temperature(reading: reading))
                json.endObject()
            }
            json.endArray()
            return json.bytes
        }
    }
}
