import Control
import Testing
import Wire

/// Checkpoints as the coordinator receives them from workers: what it stores must be a state the
/// next owner can restore, so a checkpoint that is not what it claims is refused with a reason.
@Suite("Checkpoint validation")
struct CheckpointCodecTests {
    static let partitioner = Partitioner(count: 8)

    /// A state of `partition` at `offset` with `count` of its own sensors, some with settings and
    /// last commands, some without a setting.
    static func state(partition: Int, offset: UInt64, count: Int) -> PartitionState {
        var sensors: [SensorID: SensorState] = [:]
        var sensor: SensorID = 0
        while sensors.count < count {
            defer { sensor += 1 }
            guard partitioner.partition(of: sensor) == partition else { continue }
            let setting = sensors.count % 5 == 4 ? nil : Setting(unchecked: 20 + Double(sensors.count % 7), up: 0.5, down: 1)
            let last: HeaterAction? = [nil, .on, .off][sensors.count % 3]
            sensors[sensor] = SensorState(setting: setting, last: setting == nil ? nil : last)
        }
        return PartitionState(partition: partition, nextOffset: offset, sensors: sensors)
    }

    /// Recomputes the checksum after an edit, so that only the edit is wrong.
    static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        var body = Array(bytes.dropLast(4))
        let crc = CRC32C.checksum(body)
        for shift in stride(from: 0, to: 32, by: 8) { body.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        return body
    }

    static func error(_ bytes: [UInt8], partition: Int = 3, offset: UInt64 = 40) -> String? {
        do {
            try CheckpointCodec.validate(bytes, partition: partition, nextOffset: offset, partitioner: partitioner)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func whatTheEncoderWritesIsValidAndDecodesToTheSameState() throws {
        for count in [0, 1, 50] {
            let state = Self.state(partition: 3, offset: 40, count: count)
            let bytes = CheckpointCodec.encode(state)
            #expect(try CheckpointCodec.validate(bytes, partition: 3, nextOffset: 40, partitioner: Self.partitioner) == count)
            #expect(try CheckpointCodec.decode(bytes) == state)
        }
    }

    @Test func checkpointsThatAreNotWhatTheyClaimAreRefusedWithAReason() {
        let good = CheckpointCodec.encode(Self.state(partition: 3, offset: 40, count: 20))
        let entries = 22
        func edited(_ at: Int, _ value: UInt8) -> [UInt8] {
            var bytes = good
            bytes[at] = value
            return Self.resealed(bytes)
        }
        func setting(_ entry: Int, field: Int, _ value: Double) -> [UInt8] {
            var bytes = good
            let at = entries + entry * 33
            bytes[at + 32] |= 1
            for (i, byte) in withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init).enumerated() { bytes[at + 8 * field + i] = byte }
            return Self.resealed(bytes)
        }
        let foreign = (0...).first { Self.partitioner.partition(of: SensorID($0)) != 3 }!
        var withForeign = Self.state(partition: 3, offset: 40, count: 3).sensors
        withForeign.updateValue(SensorState(setting: Setting(unchecked: 20, up: 1, down: 1), last: nil), forKey: SensorID(foreign))
        let cases: [(String, [UInt8], String)] = [
            ("empty", [], "not a partition checkpoint"),
            ("garbage", Array(repeating: 0x5A, count: 100), "not a partition checkpoint"),
            ("truncated", Array(good.dropLast(7)), "checksum mismatch"),
            ("a flipped bit", { var b = good; b[30] ^= 0x10; return b }(), "checksum mismatch"),
            ("a newer format", edited(4, 9), "unsupported checkpoint format version 9"),
            ("another partition's state", CheckpointCodec.encode(Self.state(partition: 2, offset: 40, count: 2)), "partition 2, not 3"),
            ("a state at another offset", CheckpointCodec.encode(Self.state(partition: 3, offset: 39, count: 2)), "offset 39, not 40"),
            ("a sensor of another partition", CheckpointCodec.encode(PartitionState(partition: 3, nextOffset: 40, sensors: withForeign)),
             "sensor \(foreign) belongs to partition \(Self.partitioner.partition(of: SensorID(foreign))), not 3"),
            ("more sensors announced than sent", edited(18, 21), "21 sensors announced"),
            ("trailing bytes", Self.resealed(Array(good.dropLast(4)) + [0, 0, 0, 0] + [0, 0, 0, 0]), "sensors announced"),
            ("unknown flags", edited(entries + 32, 0x08 | 1), "invalid flags 9"),
            ("an impossible last command", edited(entries + 32, 3 << 1), "invalid flags 6"),
            ("a NaN desired temperature", setting(0, field: 1, .nan), "desired must be a finite number"),
            ("a desired temperature below absolute zero", setting(1, field: 1, -300), "desired must be above -273.15"),
            ("a negative band", setting(2, field: 2, -1), "up must be >= 0"),
            ("an infinite band", setting(2, field: 3, .infinity), "down must be a finite number"),
        ]
        for (what, bytes, reason) in cases {
            let error = Self.error(bytes)
            #expect(error?.contains(reason) == true, "\(what): \(error ?? "accepted")")
        }
        #expect(Self.error(good) == nil)
    }

    /// Whatever validates decodes: a random edit either is refused or leaves a state the next
    /// owner restores as the partition and offset it claims.
    @Test func everythingValidationAcceptsDecodes() throws {
        let good = CheckpointCodec.encode(Self.state(partition: 3, offset: 40, count: 30))
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count - 4, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            bytes = Self.resealed(bytes)
            guard Self.error(bytes) == nil else { continue }
            let state = try CheckpointCodec.decode(bytes)
            #expect(state.partition == 3 && state.nextOffset == 40)
            #expect(state.sensors.allSatisfy { Self.partitioner.partition(of: $0.sensor) == 3 })
        }
    }
}
