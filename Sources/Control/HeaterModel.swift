/// The seed's heater, for the simulator: it warms 1 degree per minute while on and cools 0.5
/// per minute while off, and follows the commands it is sent.
public struct HeaterModel: Sendable, Hashable {
    public static let warmingPerSecond = 1.0 / 60
    public static let coolingPerSecond = 0.5 / 60

    public var temperature: Double
    public var heating: Bool

    /// The seed's start: 42 degrees with the heater off.
    public init(temperature: Double = 42, heating: Bool = false) {
        self.temperature = temperature
        self.heating = heating
    }

    /// Advances simulated time.
    public mutating func advance(seconds: Double) {
        temperature += heating ? seconds * Self.warmingPerSecond : -seconds * Self.coolingPerSecond
    }

    public mutating func follow(_ action: HeaterAction) {
        heating = action == .on
    }
}
