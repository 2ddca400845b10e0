#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A partition's sensors and their controller state: an open-addressing hash table with linear
/// probing, sized for millions of sensors per worker.
///
/// A `Dictionary<SensorID, SensorState>` cost 84 bytes per sensor for the table alone (40-byte
/// entries at most 3/4 full, power-of-two capacity) and three lookups and allocations around a
/// reading step. Here a sensor is one 32-byte slot in one contiguous buffer, the table is up to
/// 4/5 full and grows by half, so it holds 40 to 60 bytes per sensor, and a reading is one probe
/// sequence that reads and, when a command changes, writes that one slot in place.
///
/// **Slot encoding.** A slot is four 64-bit words: the sensor ID, then the bit patterns of the
/// setting's `desired`, `up` and `down`. `up` and `down` are never negative (``Setting``'s
/// initializer refuses that), so their sign bits are free and hold the rest of the state, as a
/// 2-bit tag `(up's sign bit, down's sign bit)`:
/// - tag 1 (`down` negative): a setting, no command sent yet;
/// - tag 2 (`up` negative): a setting, last command on;
/// - tag 3 (both negative): a setting, last command off;
/// - tag 0: no setting. Then `desired` and `down` are 0 and the `up` word is 0 for an empty slot,
///   or 1, 2, 3 for a sensor without a setting whose last command is none, on or off (a state
///   only a checkpoint can carry: ``PartitionState`` creates sensors with a setting).
///
/// So the tag minus one is the checkpoint's "last command" code, an empty slot is all zeros (a
/// fresh mapping needs no initialization) and a slot is in use when its `up` or `down` word is
/// not zero. A setting's `up` or `down` of -0.0 (which ``Setting`` accepts) is kept as +0.0: the
/// controller's comparisons cannot tell them apart.
///
/// **Hashing.** The partitioner puts a sensor in partition `mix64(id) % count`, so within one
/// partition those bits of `mix64` are alike. The table hashes with a different function (the
/// 64-bit finalizer of MurmurHash3, other shifts and multipliers) and takes the slot from the
/// hash's high bits (`hash * capacity >> 64`), which lets the capacity be any number, not only
/// a power of two, without a division. A power of two would leave the table between 44 % and
/// 88 % full, 73 bytes per sensor at worst and 67 at a million sensors over 64 partitions.
///
/// **Storage.** The slots live in one buffer owned by a final class; the table is a value with
/// copy-on-write (`isKnownUniquelyReferenced`), so ``PartitionState`` keeps value semantics. A
/// buffer of 64 KiB or more is its own anonymous memory mapping: its pages come zeroed, and the
/// memory goes back to the system the moment the table grows or is freed, rather than staying
/// in the allocator's free lists (where a table that keeps growing would leave a trail of old
/// buffers). Growing rehashes into a new buffer and then frees the old one, so two copies live
/// only during the rehash. Sensors are never removed, so there is no deletion.
public struct SensorTable: Sendable {
    @usableFromInline var storage: Storage
    /// Kept here rather than in the storage object: a stored `var` of a class is checked for
    /// exclusive access at run time on every write, a struct's is not.
    public private(set) var count = 0

    /// An empty table with room for `minimumCapacity` sensors before it grows.
    public init(minimumCapacity: Int = 0) {
        storage = Storage(capacity: Self.capacity(for: minimumCapacity))
    }

    /// A table holding the entries of a dictionary (for tests and callers that build one).
    public init(_ sensors: [SensorID: SensorState]) {
        self.init(minimumCapacity: sensors.count)
        for (sensor, state) in sensors { updateValue(state, forKey: sensor) }
    }

    /// The number of sensors held.
    @inlinable public var isEmpty: Bool { count == 0 }
    /// The number of slots: the table grows when it would hold more than 4/5 of that.
    public var capacity: Int { storage.capacity }

    /// The state of `sensor`, nil when the table does not hold it.
    public subscript(sensor: SensorID) -> SensorState? {
        let (index, found) = storage.probe(sensor)
        return found ? storage.slots[index].state : nil
    }

    /// Stores the state of `sensor`, adding the sensor if the table does not hold it; returns
    /// the state it replaced.
    @discardableResult
    public mutating func updateValue(_ state: SensorState, forKey sensor: SensorID) -> SensorState? {
        let slot = Slot(key: sensor, state: state)
        let (index, added) = findOrAdd(sensor)
        let old = storage.slots[index]
        storage.slots[index] = slot
        return added ? nil : old.state
    }

    /// Stores a sensor as a checkpoint encodes it (what ``forEachEncoded(_:)`` passes), adding
    /// it if it is new: for decoders that build a table straight from bytes, with no
    /// ``SensorState`` on the way. `lastCode` is 0 (none), 1 (on) or 2 (off), any other value
    /// is taken as none; with a setting, the caller has checked that `up` and `down` are >= 0.
    public mutating func storeEncoded(_ sensor: SensorID, desired: Double, up: Double, down: Double, hasSetting: Bool, lastCode: UInt8) {
        let slot = Slot(key: sensor, desired: desired, up: up, down: down, hasSetting: hasSetting, lastCode: lastCode < 3 ? lastCode : 0)
        storage.slots[findOrAdd(sensor).index] = slot
    }

    /// Makes room for `count` sensors in all without growing on the way (one rehash at most).
    public mutating func reserveCapacity(_ count: Int) {
        guard count > storage.maximumCount else { return }
        resize(to: Self.capacity(for: count))
    }

    // MARK: The controller's steps, in place

    /// Stores a setting for `sensor`, adding the sensor if it is new; its last command is kept.
    @usableFromInline
    mutating func store(_ setting: Setting, for sensor: SensorID) {
        precondition(setting.up >= 0 && setting.down >= 0, "a setting's up and down are >= 0 (Setting's initializer checks them)")
        let index = findOrAdd(sensor).index
        let slots = storage.slots
        let old = slots[index]
        // A sensor without a setting (tag 0) keeps its last command: code `up - 1`, tag `up`.
        let tag = old.tag != 0 ? old.tag : Swift.max(old.up, 1)
        slots[index] = Slot(key: sensor, desired: setting.desired.bitPattern,
                            up: setting.up.bitPattern & ~Slot.sign | (tag >> 1) << 63,
                            down: setting.down.bitPattern & ~Slot.sign | (tag & 1) << 63)
    }

    /// The controller's step for a reading: one probe sequence; the slot is written only when a
    /// command changes it, and the buffer copied only then if it is shared.
    @usableFromInline
    mutating func step(_ sensor: SensorID, temperature: Double) -> StepOutcome {
        let (index, found) = storage.probe(sensor)
        guard found else { return .droppedNoSetting }
        let slot = storage.slots[index]
        let tag = slot.tag
        guard tag != 0 else { return .droppedNoSetting }
        guard let action = Controller.decide(temperature: temperature, setting: slot.setting) else { return .noCommand }
        let newTag: UInt64 = action == .on ? 2 : 3
        guard newTag != tag else { return .noCommand }
        makeUnique()
        storage.slots[index].up = slot.up & ~Slot.sign | (newTag >> 1) << 63
        storage.slots[index].down = slot.down & ~Slot.sign | (newTag & 1) << 63
        return .command(action)
    }

    // MARK: Probing and growth

    /// The index of `sensor`'s slot, adding the sensor (growing first if the table is full) when
    /// it is new. The buffer is unique afterwards.
    private mutating func findOrAdd(_ sensor: SensorID) -> (index: Int, added: Bool) {
        makeUnique()
        var (index, found) = storage.probe(sensor)
        if found { return (index, false) }
        if count >= storage.maximumCount {
            // Half again as large: adding sensors one by one moves each O(1) times on average.
            resize(to: Self.capacity(for: Swift.max(count + 1, storage.capacity * 3 / 2 * 4 / 5)))
            index = storage.firstFree(for: sensor)
        }
        // In use as a sensor without a setting and no command, until the caller writes the slot.
        storage.slots[index] = Slot(key: sensor, desired: 0, up: 1, down: 0)
        count += 1
        return (index, true)
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// Rehashes into a buffer of `capacity` slots; the old buffer is freed when this returns.
    private mutating func resize(to capacity: Int) {
        let new = Storage(capacity: capacity)
        let old = storage
        for index in 0..<old.capacity where old.slots[index].isInUse {
            let slot = old.slots[index]
            new.slots[new.firstFree(for: slot.key)] = slot
        }
        storage = new
    }

    /// The smallest capacity that holds `count` sensors at most 4/5 full: at least 8 slots and,
    /// once the buffer is a mapping, whole pages of slots.
    static func capacity(for count: Int) -> Int {
        let needed = Swift.max(8, (count * 5 + 3) / 4)
        guard Storage.mapsBuffer(ofCapacity: needed) else { return needed }
        return (needed + Storage.slotsPerPage - 1) / Storage.slotsPerPage * Storage.slotsPerPage
    }
}

// MARK: - Slots and storage

extension SensorTable {
    /// One sensor: its ID and its state packed into the sign bits of `up` and `down` (see
    /// ``SensorTable``).
    @usableFromInline
    struct Slot: Sendable {
        @usableFromInline static let sign: UInt64 = 1 << 63

        @usableFromInline var key: UInt64
        @usableFromInline var desired: UInt64
        @usableFromInline var up: UInt64
        @usableFromInline var down: UInt64

        @inlinable
        init(key: UInt64, desired: UInt64, up: UInt64, down: UInt64) {
            self.key = key
            self.desired = desired
            self.up = up
            self.down = down
        }

        init(key: UInt64, state: SensorState) {
            let setting = state.setting ?? Setting(unchecked: 0, up: 0, down: 0)
            self.init(key: key, desired: setting.desired, up: setting.up, down: setting.down,
                      hasSetting: state.setting != nil, lastCode: Self.lastCode(state.last))
        }

        /// A sensor as checkpoints encode it (``SensorTable/forEachEncoded(_:)``): `lastCode`
        /// 0 none, 1 on, 2 off; the setting's values are ignored without one.
        init(key: UInt64, desired: Double, up: Double, down: Double, hasSetting: Bool, lastCode: UInt8) {
            let code = UInt64(lastCode)
            if hasSetting {
                precondition(up >= 0 && down >= 0, "a setting's up and down are >= 0 (Setting's initializer and the decoder check them)")
                let tag = code + 1
                self.init(key: key, desired: desired.bitPattern,
                          up: up.bitPattern & ~Self.sign | (tag >> 1) << 63,
                          down: down.bitPattern & ~Self.sign | (tag & 1) << 63)
            } else {
                self.init(key: key, desired: 0, up: code + 1, down: 0)
            }
        }

        /// 0 for an empty slot or a sensor without a setting, else 1 + the last command's code.
        @inlinable var tag: UInt64 { (up >> 63) << 1 | down >> 63 }
        @inlinable var isInUse: Bool { up | down != 0 }
        @inlinable var hasSetting: Bool { tag != 0 }

        /// The last command as the checkpoint codes it: 0 none, 1 on, 2 off.
        @inlinable var lastCode: UInt8 {
            let tag = self.tag
            return UInt8(truncatingIfNeeded: (tag != 0 ? tag : up) &- 1)
        }

        @inlinable var setting: Setting {
            Setting(unchecked: Double(bitPattern: desired), up: Double(bitPattern: up & ~Self.sign),
                    down: Double(bitPattern: down & ~Self.sign))
        }

        @inlinable var state: SensorState {
            let last: HeaterAction? = switch lastCode {
            case 1: .on
            case 2: .off
            default: nil
            }
            return SensorState(setting: hasSetting ? setting : nil, last: last)
        }

        @inlinable static func lastCode(_ last: HeaterAction?) -> UInt8 {
            switch last {
            case nil: 0
            case .on?: 1
            case .off?: 2
            }
        }
    }

    /// The buffer of slots. Mutated only through a ``SensorTable`` that holds the only reference
    /// (copy-on-write), hence `@unchecked Sendable`.
    @usableFromInline
    final class Storage: @unchecked Sendable {
        @usableFromInline let slots: UnsafeMutablePointer<Slot>
        @usableFromInline let capacity: Int
        /// The most sensors this buffer holds before the table grows: 4/5 of the slots.
        let maximumCount: Int
        private let mapped: Bool

        static let slotsPerPage = 4096 / MemoryLayout<Slot>.stride
        /// The pages are faulted in by the `mmap` call, in one pass: a table that grew into a
        /// mapping is more than half full (a decoded one 4/5), so its sensors touch every page
        /// anyway, and faulting them in one by one cost a sixth of restoring a checkpoint.
        #if os(Linux)
        static let mapPopulate = MAP_POPULATE
        #else
        static let mapPopulate: Int32 = 0
        #endif
        /// From this size on, a buffer is a memory mapping of its own (see ``SensorTable``).
        static let mappingThreshold = 64 * 1024

        static func mapsBuffer(ofCapacity capacity: Int) -> Bool {
            capacity * MemoryLayout<Slot>.stride >= mappingThreshold
        }

        init(capacity: Int) {
            self.capacity = capacity
            maximumCount = capacity * 4 / 5
            let bytes = capacity * MemoryLayout<Slot>.stride
            if Self.mapsBuffer(ofCapacity: capacity),
               let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | Self.mapPopulate, -1, 0),
               raw != UnsafeMutableRawPointer(bitPattern: -1) {  // MAP_FAILED
                mapped = true
                slots = raw.bindMemory(to: Slot.self, capacity: capacity)
            } else {
                mapped = false
                slots = .allocate(capacity: capacity)
                slots.initialize(repeating: Slot(key: 0, desired: 0, up: 0, down: 0), count: capacity)
            }
        }

        deinit {
            // Slots are plain words: nothing to deinitialize.
            if mapped {
                munmap(slots, capacity * MemoryLayout<Slot>.stride)
            } else {
                slots.deallocate()
            }
        }

        /// A buffer of the same capacity with the same slots (so indices stay valid).
        func copy() -> Storage {
            let new = Storage(capacity: capacity)
            new.slots.update(from: slots, count: capacity)
            return new
        }

        /// The slot a sensor's probe sequence starts at. MurmurHash3's finalizer without its last
        /// xor-shift, which changes only the low bits, and those are not used.
        @inlinable
        func home(of sensor: SensorID) -> Int {
            var h = sensor ^ (sensor >> 33)
            h &*= 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 33
            h &*= 0xC4CE_B9FE_1A85_EC53
            return Int(truncatingIfNeeded: h.multipliedFullWidth(by: UInt64(capacity)).high)
        }

        /// The index of `sensor`'s slot and true, or of the empty slot where it would go and
        /// false: one pass along the probe sequence either way (nothing is ever removed, so the
        /// first empty slot ends the sequence).
        @inlinable
        func probe(_ sensor: SensorID) -> (index: Int, found: Bool) {
            var index = home(of: sensor)
            while true {
                let slot = slots[index]
                guard slot.isInUse else { return (index, false) }
                if slot.key == sensor { return (index, true) }
                index += 1
                if index == capacity { index = 0 }
            }
        }

        /// The first empty slot of `sensor`'s probe sequence (the table is never full).
        func firstFree(for sensor: SensorID) -> Int {
            var index = home(of: sensor)
            while slots[index].isInUse {
                index += 1
                if index == capacity { index = 0 }
            }
            return index
        }
    }
}

// MARK: - Iteration and equality

extension SensorTable: Sequence {
    public typealias Element = (sensor: SensorID, state: SensorState)

    /// The sensors in slot order (an order of no meaning, the same for equal buffers).
    public struct Iterator: IteratorProtocol {
        @usableFromInline let storage: Storage
        @usableFromInline var index = 0

        @inlinable init(storage: Storage) { self.storage = storage }

        @inlinable
        public mutating func next() -> Element? {
            while index < storage.capacity {
                let slot = storage.slots[index]
                index += 1
                if slot.isInUse { return (slot.key, slot.state) }
            }
            return nil
        }
    }

    @inlinable public func makeIterator() -> Iterator { Iterator(storage: storage) }
    @inlinable public var underestimatedCount: Int { count }

    /// Calls `body` with each sensor and its state as checkpoints encode it: its setting's
    /// values (0 when it has none), whether it has one, and its last command's code (0 none,
    /// 1 on, 2 off); in slot order. For encoders that write straight from the table.
    @inlinable
    public func forEachEncoded(_ body: (_ sensor: SensorID, _ desired: Double, _ up: Double, _ down: Double, _ hasSetting: Bool, _ lastCode: UInt8) throws -> Void) rethrows {
        let storage = self.storage
        for index in 0..<storage.capacity {
            let slot = storage.slots[index]
            guard slot.isInUse else { continue }
            let hasSetting = slot.hasSetting
            if hasSetting {
                try body(slot.key, Double(bitPattern: slot.desired), Double(bitPattern: slot.up & ~Slot.sign),
                         Double(bitPattern: slot.down & ~Slot.sign), true, slot.lastCode)
            } else {
                try body(slot.key, 0, 0, 0, false, slot.lastCode)
            }
        }
        withExtendedLifetime(storage) {}
    }
}

extension SensorTable: Equatable {
    /// The same sensors with the same states, whatever the capacity or slot order.
    public static func == (lhs: SensorTable, rhs: SensorTable) -> Bool {
        if lhs.storage === rhs.storage { return true }
        guard lhs.count == rhs.count else { return false }
        return lhs.allSatisfy { rhs[$0.sensor] == $0.state }
    }
}

extension SensorTable: CustomStringConvertible {
    public var description: String {
        "SensorTable(\(count) sensors, \(capacity) slots)"
    }
}

// Diagnostics for the package's tests.
extension SensorTable {
    /// The slot where `sensor`'s probe sequence starts at the current capacity.
    package func homeSlot(of sensor: SensorID) -> Int { storage.home(of: sensor) }

    /// The mean number of slots a lookup of a held sensor reads (1 when every sensor is in its
    /// home slot): how well the hash spreads this table's sensors.
    package var meanProbeLength: Double {
        guard count > 0 else { return 0 }
        var total = 0
        for index in 0..<storage.capacity where storage.slots[index].isInUse {
            let home = storage.home(of: storage.slots[index].key)
            total += (index - home + storage.capacity) % storage.capacity + 1
        }
        return Double(total) / Double(count)
    }
}
