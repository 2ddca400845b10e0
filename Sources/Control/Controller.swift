/// The keyed thermostat controller of the seed, one sensor at a time.
///
/// Per sensor the state is the current ``Setting`` and the last command sent (none at first):
/// - a setting replaces the sensor's setting and keeps its last command;
/// - a reading for a sensor without a setting is dropped (and counted by the caller);
/// - otherwise `temperature > desired + up` gives ``HeaterAction/off`` and
///   `temperature < desired - down` gives ``HeaterAction/on``; in between, nothing;
/// - a command is emitted only when it differs from the last one sent for that sensor.
public enum Controller {
    /// The action a reading calls for under a setting, or nil inside the band.
    @inlinable
    public static func decide(temperature: Double, setting: Setting) -> HeaterAction? {
        if temperature > setting.desired + setting.up { return .off }
        if temperature < setting.desired - setting.down { return .on }
        return nil
    }
}

/// The state the controller keeps for one sensor.
public struct SensorState: Sendable, Hashable {
    public var setting: Setting?
    public var last: HeaterAction?

    @inlinable
    public init(setting: Setting? = nil, last: HeaterAction? = nil) {
        self.setting = setting
        self.last = last
    }
}

/// What applying one item did.
public enum StepOutcome: Sendable, Hashable {
    /// A setting was stored.
    case settingStored
    /// A reading produced no new command (inside the band, or the same command as last time).
    case noCommand
    /// A reading produced a command that differs from the last one: publish it.
    case command(HeaterAction)
    /// A reading arrived for a sensor that has no setting yet: dropped.
    case droppedNoSetting
}

extension SensorState {
    /// Applies one item to this sensor's state: the controller's step function.
    @inlinable
    public mutating func apply(_ item: Item) -> StepOutcome {
        switch item {
        case .setting(_, let setting):
            self.setting = setting
            return .settingStored
        case .reading(_, let temperature):
            guard let setting else { return .droppedNoSetting }
            guard let action = Controller.decide(temperature: temperature, setting: setting),
                  action != last
            else { return .noCommand }
            last = action
            return .command(action)
        }
    }
}
