/// The keyed control state of one partition, and how far into the partition's input it is.
///
/// Items carry the partition offset the coordinator gave them. Applying is idempotent by
/// offset: an item below ``nextOffset`` was applied already and is skipped, so a redelivered
/// batch changes nothing; an item above it means a gap, which the caller must never cause.
public struct PartitionState: Sendable, Equatable {
    public let partition: Int
    /// The offset of the next item to apply: every item below it is reflected in ``sensors``.
    public private(set) var nextOffset: UInt64
    public private(set) var sensors: SensorTable

    public init(partition: Int, nextOffset: UInt64 = 0, sensors: SensorTable = SensorTable()) {
        self.partition = partition
        self.nextOffset = nextOffset
        self.sensors = sensors
    }

    /// A state holding the sensors of a dictionary (for tests).
    public init(partition: Int, nextOffset: UInt64 = 0, sensors: [SensorID: SensorState]) {
        self.init(partition: partition, nextOffset: nextOffset, sensors: SensorTable(sensors))
    }

    /// What applying an item at an offset did, as seen from the partition.
    public enum Applied: Sendable, Hashable {
        case step(StepOutcome)
        /// The offset was applied before; nothing changed.
        case duplicate
    }

    public struct OffsetGap: Error, Sendable, Hashable {
        public let expected: UInt64
        public let got: UInt64

        public init(expected: UInt64, got: UInt64) {
            self.expected = expected
            self.got = got
        }
    }

    /// Applies the item at `offset`, the controller's step for its sensor.
    public mutating func apply(_ item: Item, at offset: UInt64) throws(OffsetGap) -> Applied {
        if offset < nextOffset { return .duplicate }
        guard offset == nextOffset else { throw OffsetGap(expected: nextOffset, got: offset) }
        nextOffset = offset + 1
        switch item {
        case .setting(let sensor, let setting):
            sensors.store(setting, for: sensor)
            return .step(.settingStored)
        case .reading(let sensor, let temperature):
            // Only sensors that received a setting have state: a reading alone creates none.
            // One probe of the table, which writes the slot in place when a command changes it.
            return .step(sensors.step(sensor, temperature: temperature))
        }
    }
}
