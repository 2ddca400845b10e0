import Control
import PropertyBased
import Testing

/// The worker's sensor table against what a `Dictionary` would hold: lookups, insertion,
/// growth, colliding and extreme keys, value semantics, and the controller's steps in place.
@Suite("Sensor table")
struct SensorTableTests {
    static let band = Setting(unchecked: 20, up: 1, down: 2)

    /// Every state a sensor can be in: with or without a setting, each last command.
    static let states: [SensorState] = [nil, Setting(unchecked: -273, up: 0, down: 0), band, Setting(unchecked: 1e300, up: 7.5, down: 1e-300)]
        .flatMap { setting in [nil, HeaterAction.on, .off].map { SensorState(setting: setting, last: $0) } }

    @Test(arguments: [0, 1, 5, 6, 7, 8, 100, 2047, 2048, 2049, 10_000, 100_000])
    func insertAndLookUpAcrossGrowth(count: Int) {
        var rng = SplitMix64(seed: UInt64(count))
        var table = SensorTable()
        var model: [SensorID: SensorState] = [:]
        while model.count < count {
            let sensor = rng.next()
            let state = Self.states[model.count % Self.states.count]
            #expect(table.updateValue(state, forKey: sensor) == model.updateValue(state, forKey: sensor))
        }
        #expect(table.count == count)
        #expect(table.capacity * 4 / 5 >= count)
        // Each held sensor is found with its state; sensors not held are not.
        #expect(model.allSatisfy { table[$0.key] == $0.value })
        for _ in 0..<1000 {
            let other = rng.next()
            #expect(table[other] == model[other])
        }
        // Iteration yields every sensor once.
        let listed = Dictionary(table.map { ($0.sensor, $0.state) }, uniquingKeysWith: { a, _ in a })
        #expect(listed == model)
        #expect(table.count == Array(table).count)
    }

    @Test func extremeAndAdjacentKeys() {
        // Key 0 is also the key of an empty slot's all-zero bits: it must still be found, and
        // an empty table must not claim to hold it.
        var table = SensorTable()
        #expect(table[0] == nil)
        #expect(table[.max] == nil)
        let keys: [SensorID] = [0, .max, 1, .max - 1, 1 << 63, (1 << 63) - 1] + (2..<200).map { UInt64($0) }
        for (i, key) in keys.enumerated() {
            table.updateValue(Self.states[i % Self.states.count], forKey: key)
        }
        for (i, key) in keys.enumerated() {
            #expect(table[key] == Self.states[i % Self.states.count], "key \(key)")
        }
        #expect(table.count == keys.count)
        // Replacing keeps the count.
        table.updateValue(SensorState(setting: Self.band, last: .off), forKey: 0)
        #expect(table[0] == SensorState(setting: Self.band, last: .off))
        #expect(table.count == keys.count)
    }

    /// Sensors all in one home slot (a table of 8 slots holds 6): probing must go round the end
    /// of the buffer, and growth must keep them all.
    @Test func collidingKeysWrapAround() {
        var table = SensorTable()
        #expect(table.capacity == 8)
        // Find 40 keys whose probe starts at the last slot of an 8-slot table.
        var lastSlot: [SensorID] = []
        var candidate: SensorID = 0
        while lastSlot.count < 40 {
            if table.homeSlot(of: candidate) == 7 { lastSlot.append(candidate) }
            candidate += 1
        }
        for (i, key) in lastSlot.enumerated() {
            table.updateValue(SensorState(setting: Self.band, last: i % 2 == 0 ? .on : nil), forKey: key)
            #expect(lastSlot[...i].enumerated().allSatisfy { j, k in table[k] == SensorState(setting: Self.band, last: j % 2 == 0 ? .on : nil) })
        }
        #expect(table.count == 40)
    }

    /// The sensors of one partition (all with the same `mix64(id) % 64`) spread over the table
    /// as well as random ones: the table's hash is not the partitioner's.
    @Test func oneSensorsPartitionIsNotClustered() {
        let partitioner = Partitioner(count: 64)
        var table = SensorTable()
        var sensor: SensorID = 0
        while table.count < 50_000 {
            if partitioner.partition(of: sensor) == 5 { table.updateValue(SensorState(setting: Self.band), forKey: sensor) }
            sensor += 1
        }
        // Linear probing at load a has a mean successful probe length of about (1 + 1/(1-a))/2:
        // 3 at 4/5. A clustered hash gives far more.
        let load = Double(table.count) / Double(table.capacity)
        #expect(load > 0.5 && load <= 0.8)
        #expect(table.meanProbeLength < (1 + 1 / (1 - load)) / 2 * 1.3, "load \(load)")
    }

    @Test func copiesAreIndependent() {
        var original = SensorTable()
        for sensor in SensorID(0)..<100 { original.updateValue(SensorState(setting: Self.band), forKey: sensor) }
        let snapshot = original
        var copy = original
        copy.updateValue(SensorState(setting: Self.band, last: .on), forKey: 5)
        copy.updateValue(SensorState(), forKey: 1000)
        #expect(original == snapshot)
        #expect(original[5] == SensorState(setting: Self.band))
        #expect(original[1000] == nil)
        #expect(original.count == 100)
        #expect(copy[5]?.last == .on)
        #expect(copy.count == 101)
        #expect(copy != original)
        // And the other way: the original mutated after the copy leaves the copy alone, also
        // across growth.
        var second = original
        for sensor in SensorID(100)..<1000 { original.updateValue(SensorState(setting: Self.band), forKey: sensor) }
        #expect(second.count == 100)
        #expect(second[500] == nil)
        second.updateValue(SensorState(), forKey: 0)
        #expect(original[0] == SensorState(setting: Self.band))
    }

    @Test func stepsInPlaceDoNotTouchCopies() throws {
        var partition = PartitionState(partition: 0)
        _ = try partition.apply(.setting(sensor: 7, Self.band), at: 0)
        let before = partition
        #expect(try partition.apply(.reading(sensor: 7, temperature: 30), at: 1) == .step(.command(.off)))
        #expect(before.sensors[7] == SensorState(setting: Self.band))
        #expect(partition.sensors[7] == SensorState(setting: Self.band, last: .off))
        #expect(partition != before)
    }

    @Test func equalityIgnoresCapacityAndOrder() {
        var small = SensorTable()
        var large = SensorTable(minimumCapacity: 100_000)
        for sensor in SensorID(0)..<300 { small.updateValue(SensorState(setting: Self.band, last: .on), forKey: sensor) }
        for sensor in (SensorID(0)..<300).reversed() { large.updateValue(SensorState(setting: Self.band, last: .on), forKey: sensor) }
        #expect(small == large)
        large.updateValue(SensorState(setting: Self.band, last: .off), forKey: 299)
        #expect(small != large)
        #expect(SensorTable([1: SensorState()]) != SensorTable([2: SensorState()]))
        #expect(SensorTable() == SensorTable(minimumCapacity: 10))
    }

    /// A setting of -0.0 is kept as +0.0, which no comparison can tell apart; every other value
    /// is kept bit for bit.
    @Test func settingValuesSurviveThePacking() {
        var table = SensorTable()
        let setting = Setting(unchecked: -0.0, up: -0.0, down: .leastNonzeroMagnitude)
        table.updateValue(SensorState(setting: setting, last: .off), forKey: 1)
        let stored = table[1]!.setting!
        #expect(stored.desired.bitPattern == (-0.0).bitPattern)
        #expect(stored.up.bitPattern == 0)
        #expect(stored.down == .leastNonzeroMagnitude)
        #expect(table[1]!.last == .off)
    }

    /// The controller in the table against the controller of ``SensorState`` (the seed's), and
    /// the table against a dictionary, under random operations: settings, readings (for sensors
    /// with and without settings), whole states stored, lookups and copies.
    @Test func behavesLikeTheDictionaryModel() async {
        await propertyCheck(count: 100, input: Gen.int(in: 0...1_000_000), Gen.int(in: 1...2000), Gen.int(in: 1...2000)) { seed, keyRange, operations in
            var rng = SplitMix64(seed: UInt64(seed))
            var partition = PartitionState(partition: 0)
            var model: [SensorID: SensorState] = [:]
            var copies: [(SensorTable, [SensorID: SensorState])] = []
            // Keys from a small range collide in their home slots; some are extreme.
            func key() -> SensorID {
                switch rng.next() % 8 {
                case 0: [0, .max, 1 << 63][Int(rng.next() % 3)]
                default: rng.next() % UInt64(keyRange)
                }
            }
            for offset in 0..<UInt64(operations) {
                let sensor = key()
                switch rng.next() % 10 {
                case 0...2:
                    let setting = Setting(unchecked: Double(rng.next() % 40), up: Double(rng.next() % 4) / 2, down: Double(rng.next() % 4) / 2)
                    let applied = try? partition.apply(.setting(sensor: sensor, setting), at: offset)
                    model[sensor, default: SensorState()].setting = setting
                    #expect(applied == .step(.settingStored))
                case 3...7:
                    let temperature = Double(rng.next() % 50) - 5
                    let reading = Item.reading(sensor: sensor, temperature: temperature)
                    let applied = try? partition.apply(reading, at: offset)
                    let expected: StepOutcome
                    if var state = model[sensor] {
                        expected = state.apply(reading)
                        model[sensor] = state
                    } else {
                        expected = .droppedNoSetting
                    }
                    #expect(applied == .step(expected))
                case 8:
                    // A state as a checkpoint may carry it, without a setting and with a command.
                    let state = SensorTableTests.states[Int(rng.next() % UInt64(SensorTableTests.states.count))]
                    var sensors = partition.sensors
                    #expect(sensors.updateValue(state, forKey: sensor) == model.updateValue(state, forKey: sensor))
                    partition = PartitionState(partition: 0, nextOffset: offset + 1, sensors: sensors)
                default:
                    copies.append((partition.sensors, model))
                    _ = try? partition.apply(.setting(sensor: sensor, SensorTableTests.band), at: offset)
                    model[sensor, default: SensorState()].setting = SensorTableTests.band
                }
                #expect(partition.sensors[sensor] == model[sensor])
            }
            #expect(partition.sensors.count == model.count)
            #expect(partition.sensors == SensorTable(model))
            #expect(Dictionary(partition.sensors.map { ($0.sensor, $0.state) }, uniquingKeysWith: { a, _ in a }) == model)
            // Copies taken on the way still hold what they held then.
            for (table, snapshot) in copies {
                #expect(table == SensorTable(snapshot))
            }
        }
    }
}
