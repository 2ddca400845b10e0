import Control
import Wire

/// Shared helpers of the public-protocol codec tests (JSON, ingest, binary batches, replies, feed).
enum CodecTestKit {
    static func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Decodes a request that must be accepted as a whole.
    static func request(_ text: String, limits: IngestLimits = .init()) throws -> IngestRequest {
        try IngestDecoder.decode(utf8(text), limits: limits).get()
    }

    /// Decodes a request that must be refused as a whole, and returns the error.
    static func refusal(_ bytes: [UInt8], limits: IngestLimits = .init()) -> IngestError? {
        if case .failure(let error) = IngestDecoder.decode(bytes, limits: limits) { return error }
        return nil
    }

    /// The only rejection of a one-item request.
    static func rejection(_ item: String) throws -> String? {
        let request = try request(item)
        guard request.items.isEmpty, request.rejected.count == 1, request.rejected[0].index == 0 else { return nil }
        return request.rejected[0].error
    }

    static func parseError(_ text: String, maxDepth: Int = JSONParser.defaultMaxDepth) -> JSONError? {
        parseError(utf8(text), maxDepth: maxDepth)
    }

    static func parseError(_ bytes: [UInt8], maxDepth: Int = JSONParser.defaultMaxDepth) -> JSONError? {
        do {
            _ = try JSONParser.parse(bytes, maxDepth: maxDepth)
            return nil
        } catch {
            return error
        }
    }

    /// What the validation rules say about an item: accepted as is, or rejected.
    static func isValid(_ item: Item) -> Bool {
        switch item {
        case .reading(_, let temperature):
            return (try? Temperature.reading(temperature)) != nil
        case .setting(_, let setting):
            return (try? Setting(desired: setting.desired, up: setting.up, down: setting.down)) != nil
        }
    }

    /// Doubles that stress the codecs: extremes, signed zeros, bounds of the rules, non-finite.
    static let extremeDoubles: [Double] = [
        0, -0.0, 1, -1, 21.4, 1e-05, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
        .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        -273.15, -273.14, (-273.15).nextUp, (-273.15).nextDown, .infinity, -.infinity, .nan,
        .ulpOfOne, 1e300, -1e300,
    ]

    static func randomItem(_ rng: inout SplitMix64) -> Item {
        let sensor: SensorID
        switch rng.next() % 4 {
        case 0: sensor = .max
        case 1: sensor = rng.next() % 1000
        default: sensor = rng.next()
        }
        func double() -> Double {
            switch rng.next() % 4 {
            case 0: return extremeDoubles[Int(rng.next() % UInt64(extremeDoubles.count))]
            case 1: return Double(bitPattern: rng.next())
            default: return Double(Int64(bitPattern: rng.next()) % 100_000) / 100
            }
        }
        if rng.next() % 2 == 0 {
            return .reading(sensor: sensor, temperature: double())
        }
        return .setting(sensor: sensor, Setting(unchecked: double(), up: double().magnitude, down: rng.next() % 8 == 0 ? -1 : double().magnitude))
    }

    /// A JSON item object for an item (values as Swift's shortest round-tripping text; non-finite
    /// values as overflowing literals).
    static func json(_ item: Item) -> String {
        func number(_ value: Double) -> String {
            if value.isFinite { return value.description }
            if value.isNaN { return "\"NaN\"" }
            return value > 0 ? "1e999" : "-1e999"
        }
        switch item {
        case .reading(let sensor, let temperature):
            return #"{"sensor":\#(sensor),"temperature":\#(number(temperature))}"#
        case .setting(let sensor, let setting):
            return #"{"sensor":\#(sensor),"desired":\#(number(setting.desired)),"up":\#(number(setting.up)),"down":\#(number(setting.down))}"#
        }
    }

    /// Items are equal including the sign of zero.
    static func identical(_ a: Item, _ b: Item) -> Bool {
        switch (a, b) {
        case (.reading(let s1, let t1), .reading(let s2, let t2)):
            return s1 == s2 && t1.bitPattern == t2.bitPattern
        case (.setting(let s1, let x), .setting(let s2, let y)):
            return s1 == s2 && x.desired.bitPattern == y.desired.bitPattern
                && x.up.bitPattern == y.up.bitPattern && x.down.bitPattern == y.down.bitPattern
        default:
            return false
        }
    }
}

