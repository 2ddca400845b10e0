public import Control

/// The encoding of a partition's keyed state, as checkpoints carry it and the coordinator
/// stores it.
///
/// Layout (little-endian): magic `"TSPS"`, format version u16, partition u32, next offset u64,
/// sensor count u32, then per sensor: id u64, desired f64, up f64, down f64, flags u8 (bit 0:
/// has a setting, bits 1-2: last command 0 none, 1 on, 2 off); then CRC-32C of all before.
public enum CheckpointCodec {
    public static let formatVersion: UInt16 = 1
    static let magic: [UInt8] = Array("TSPS".utf8)
    static let entrySize = 33

    public static func encode(_ state: PartitionState) -> [UInt8] {
        var w = ByteWriter(capacity: 26 + state.sensors.count * entrySize)
        w.write(bytes: magic)
        w.write(formatVersion)
        w.write(UInt32(state.partition))
        w.write(state.nextOffset)
        w.write(UInt32(state.sensors.count))
        for (sensor, entry) in state.sensors {
            let setting = entry.setting ?? Setting(unchecked: 0, up: 0, down: 0)
            w.write(sensor)
            w.write(setting.desired)
            w.write(setting.up)
            w.write(setting.down)
            let last: UInt8 = switch entry.last {
            case nil: 0
            case .on?: 1
            case .off?: 2
            }
            w.write((entry.setting == nil ? 0 : 1) | last << 1)
        }
        w.write(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Decodes a checkpoint, verifying its checksum and version.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> PartitionState {
        guard bytes.count >= 26, Array(bytes[0..<4]) == magic else { throw DecodeError("not a partition checkpoint") }
        let stored = bytes.suffix(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard CRC32C.checksum(bytes.dropLast(4)) == stored else { throw DecodeError("checkpoint checksum mismatch") }
        var r = ByteReader(Array(bytes.dropLast(4)), position: 4)
        let version: UInt16 = try r.read()
        guard version == formatVersion else {
            throw DecodeError("unsupported checkpoint format version \(version) (this build reads \(formatVersion))")
        }
        let partition = Int(try r.read(UInt32.self))
        let nextOffset: UInt64 = try r.read()
        let count = try r.readCount(minimumElementSize: entrySize)
        var sensors: [SensorID: SensorState] = [:]
        sensors.reserveCapacity(count)
        for _ in 0..<count {
            let sensor: UInt64 = try r.read()
            let setting = Setting(unchecked: try r.read(), up: try r.read(), down: try r.read())
            let flags: UInt8 = try r.read()
            let last: HeaterAction? = switch (flags >> 1) & 3 {
            case 1: .on
            case 2: .off
            default: nil
            }
            sensors[sensor] = SensorState(setting: flags & 1 == 1 ? setting : nil, last: last)
        }
        guard r.isAtEnd else { throw DecodeError("trailing bytes in checkpoint") }
        return PartitionState(partition: partition, nextOffset: nextOffset, sensors: sensors)
    }
}
