import Control
import Testing

@Suite("Controller semantics (the seed's keyed controller)")
struct ControllerTests {
    static let band = Setting(unchecked: 20, up: 1, down: 2)

    // (temperature, expected decision) under desired 20, up 1, down 2: off above 21, on below 18.
    @Test(arguments: [
        (21.5, HeaterAction?.some(.off)),
        (21.0, nil),  // strict: exactly desired + up is inside the band
        (20.9, nil),
        (18.0, nil),  // strict: exactly desired - down is inside the band
        (17.99, .some(.on)),
        (-273.0, .some(.on)),
        (1e300, .some(.off)),
    ])
    func decision(temperature: Double, expected: HeaterAction?) {
        #expect(Controller.decide(temperature: temperature, setting: Self.band) == expected)
    }

    @Test func commandOnlyWhenItChanges() {
        var state = SensorState(setting: Self.band)
        let temperatures = [25.0, 26, 20, 15, 14, 19, 22, 22, 10]
        let outcomes = temperatures.map { state.apply(.reading(sensor: 1, temperature: $0)) }
        #expect(outcomes == [
            .command(.off), .noCommand, .noCommand, .command(.on), .noCommand,
            .noCommand, .command(.off), .noCommand, .command(.on),
        ])
    }

    @Test func firstOutOfBandReadingAlwaysEmits() {
        var a = SensorState(setting: Self.band)
        let first = a.apply(.reading(sensor: 1, temperature: 10))
        #expect(first == .command(.on))
        var b = SensorState(setting: Self.band)
        let other = b.apply(.reading(sensor: 1, temperature: 30))
        #expect(other == .command(.off))
    }

    @Test func settingReplacesBandAndKeepsLastCommand() {
        var state = SensorState(setting: Self.band)
        let items: [Item] = [
            .reading(sensor: 1, temperature: 25),
            // New band 30 ± 1: 25 is now far below, so "on".
            .setting(sensor: 1, Setting(unchecked: 30, up: 1, down: 1)),
            .reading(sensor: 1, temperature: 25),
            // Another band: "on" again is the same command as last time, so nothing is sent.
            .setting(sensor: 1, Setting(unchecked: 40, up: 1, down: 1)),
            .reading(sensor: 1, temperature: 25),
        ]
        let outcomes = items.map { state.apply($0) }
        #expect(outcomes == [.command(.off), .settingStored, .command(.on), .settingStored, .noCommand])
        #expect(state.last == .on)
    }

    @Test func readingWithoutSettingIsDropped() throws {
        var state = SensorState()
        let dropped = state.apply(.reading(sensor: 1, temperature: 10))
        #expect(dropped == .droppedNoSetting)
        var partition = PartitionState(partition: 0)
        let applied = try partition.apply(.reading(sensor: 9, temperature: 10), at: 0)
        #expect(applied == .step(.droppedNoSetting))
        #expect(partition.sensors.isEmpty, "a reading alone creates no state")
        #expect(partition.nextOffset == 1)
    }

    @Test func settingValidation() throws {
        #expect(throws: ValueError.notFinite(field: "desired")) { try Setting(desired: .nan, up: 1, down: 1) }
        #expect(throws: ValueError.belowAbsoluteZero(field: "desired")) { try Setting(desired: -273.15, up: 1, down: 1) }
        #expect(throws: ValueError.negative(field: "up")) { try Setting(desired: 20, up: -0.1, down: 1) }
        #expect(throws: ValueError.notFinite(field: "down")) { try Setting(desired: 20, up: 1, down: .infinity) }
        let zero = try Setting(desired: -273.14, up: 0, down: 0)
        #expect(zero.up == 0)
        #expect(throws: ValueError.notFinite(field: "temperature")) { try Temperature.reading(-.infinity) }
    }
}

@Suite("Partition state")
struct PartitionStateTests {
    @Test func keyedStateIsPerSensor() throws {
        var partition = PartitionState(partition: 3)
        let items: [Item] = [
            .setting(sensor: 1, Setting(unchecked: 20, up: 1, down: 1)),
            .setting(sensor: 2, Setting(unchecked: 50, up: 1, down: 1)),
            .reading(sensor: 1, temperature: 30),  // off for 1
            .reading(sensor: 2, temperature: 30),  // on for 2: sensor 1's last command must not matter
            .reading(sensor: 1, temperature: 30),  // nothing new for 1
        ]
        var outcomes: [PartitionState.Applied] = []
        for (offset, item) in items.enumerated() { outcomes.append(try partition.apply(item, at: UInt64(offset))) }
        #expect(outcomes == [.step(.settingStored), .step(.settingStored), .step(.command(.off)), .step(.command(.on)), .step(.noCommand)])
    }

    @Test func redeliveryIsIdempotentAndGapsAreRefused() throws {
        var partition = PartitionState(partition: 0)
        let setting = Item.setting(sensor: 1, Setting(unchecked: 20, up: 1, down: 1))
        _ = try partition.apply(setting, at: 0)
        _ = try partition.apply(.reading(sensor: 1, temperature: 30), at: 1)
        let before = partition
        let again = try partition.apply(.reading(sensor: 1, temperature: 0), at: 1)
        #expect(again == .duplicate)
        #expect(partition == before)
        var copy = partition
        #expect(throws: PartitionState.OffsetGap(expected: 2, got: 5)) {
            _ = try copy.apply(.reading(sensor: 1, temperature: 0), at: 5)
        }
    }
}

@Suite("Partitioner")
struct PartitionerTests {
    // Test vectors, also in docs/protocol.md: mix64 is SplitMix64's output function.
    @Test(arguments: [
        (UInt64(0), UInt64(0xE220_A839_7B1D_CDAF)),
        (UInt64(1), UInt64(0x910A_2DEC_8902_5CC1)),
        (UInt64(17), UInt64(0x8084_75F0_2EE3_7363)),
        (UInt64.max, UInt64(0xE4D9_7177_1B65_2C20)),
    ] as [(UInt64, UInt64)])
    func mix64Vectors(sensor: UInt64, hash: UInt64) {
        #expect(Partitioner.mix64(sensor) == hash)
    }

    @Test func partitionsAreStableAndInRange() {
        let p = Partitioner(count: 64)
        #expect(p.partition(of: 0) == Int(UInt64(0xE220_A839_7B1D_CDAF) % 64))
        #expect(p.partition(of: 17) == Int(UInt64(0x8084_75F0_2EE3_7363) % 64))
        var counts = Array(repeating: 0, count: 64)
        for sensor in UInt64(0)..<64_000 { counts[p.partition(of: sensor)] += 1 }
        // Sequential IDs spread evenly: every partition within 20% of the mean.
        #expect(counts.allSatisfy { abs($0 - 1000) < 200 })
    }
}
