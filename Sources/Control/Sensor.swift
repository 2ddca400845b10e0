/// A sensor's identity: an unsigned 64-bit integer, as on the wire.
public typealias SensorID = UInt64

/// A per-sensor control setting: the desired temperature and the band around it.
///
/// The heater is switched off above `desired + up` and on below `desired - down`; inside the
/// band nothing changes. Both comparisons are strict (see ``Controller``).
public struct Setting: Sendable, Hashable {
    public var desired: Double
    public var up: Double
    public var down: Double

    /// Creates a setting, or throws when a value is out of range.
    public init(desired: Double, up: Double, down: Double) throws(ValueError) {
        try Temperature.validate(desired, field: "desired")
        guard up.isFinite else { throw .notFinite(field: "up") }
        guard down.isFinite else { throw .notFinite(field: "down") }
        guard up >= 0 else { throw .negative(field: "up") }
        guard down >= 0 else { throw .negative(field: "down") }
        self.desired = desired
        self.up = up
        self.down = down
    }

    /// Creates a setting without validation, for values that were validated before (snapshots).
    @inlinable
    public init(unchecked desired: Double, up: Double, down: Double) {
        self.desired = desired
        self.up = up
        self.down = down
    }
}

/// What a heater is told to do. The raw values are the seed's `HeaterCommand` (`On = 0; Off = 1`).
public enum HeaterAction: UInt8, Sendable, Hashable, CaseIterable {
    case on = 0
    case off = 1

    /// `"on"` or `"off"`, as in the command feed's JSON.
    public var name: String { self == .on ? "on" : "off" }
}

/// One accepted input item: a reading or a setting for one sensor.
public enum Item: Sendable, Hashable {
    case reading(sensor: SensorID, temperature: Double)
    case setting(sensor: SensorID, Setting)

    @inlinable
    public var sensor: SensorID {
        switch self {
        case .reading(let sensor, _), .setting(let sensor, _): sensor
        }
    }
}

/// Temperatures are finite and above absolute zero.
public enum Temperature {
    public static let absoluteZero = -273.15

    public static func validate(_ value: Double, field: String) throws(ValueError) {
        guard value.isFinite else { throw .notFinite(field: field) }
        guard value > absoluteZero else { throw .belowAbsoluteZero(field: field) }
    }

    /// Validates a reading's temperature.
    public static func reading(_ value: Double) throws(ValueError) -> Double {
        try validate(value, field: "temperature")
        return value
    }
}

/// Why a value is not a valid temperature, delta or setting.
public enum ValueError: Error, Sendable, Hashable, CustomStringConvertible {
    case notFinite(field: String)
    case belowAbsoluteZero(field: String)
    case negative(field: String)

    public var description: String {
        switch self {
        case .notFinite(let field): "\(field) must be a finite number"
        case .belowAbsoluteZero(let field): "\(field) must be above -273.15"
        case .negative(let field): "\(field) must be >= 0"
        }
    }
}
