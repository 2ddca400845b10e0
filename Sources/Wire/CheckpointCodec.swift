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
    /// Bytes per sensor.
    public static let entrySize = 33

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

    /// Checks that `bytes` is a well-formed checkpoint of `partition` at `nextOffset`: intact
    /// (magic, version, checksum, length), for that partition and offset, every sensor one that
    /// `partitioner` puts in that partition, and every setting and flag a value the encoder
    /// writes. It reads the bytes once without building the state: about the cost of the
    /// checksum, a fraction of what ``decode(_:)`` costs (see `WireTests`). Returns the number
    /// of sensors.
    ///
    /// The coordinator runs it on every checkpoint a worker sends before storing it, so that
    /// what it hands the next owner of the partition is a state that owner can restore.
    @discardableResult
    public static func validate(_ bytes: [UInt8], partition: Int, nextOffset: UInt64, partitioner: Partitioner) throws(DecodeError) -> Int {
        let result: Result<Int, DecodeError> = bytes.withUnsafeBytes { raw in
            func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
            func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
            func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
            func f64(_ at: Int) -> Double { Double(bitPattern: u64(at)) }
            guard raw.count >= 26, raw[0] == magic[0], raw[1] == magic[1], raw[2] == magic[2], raw[3] == magic[3] else {
                return .failure(DecodeError("not a partition checkpoint"))
            }
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 4)])) == u32(raw.count - 4) else {
                return .failure(DecodeError("checkpoint checksum mismatch"))
            }
            let version = u16(4)
            guard version == formatVersion else {
                return .failure(DecodeError("unsupported checkpoint format version \(version) (this build reads \(formatVersion))"))
            }
            let statePartition = Int(u32(6))
            guard statePartition == partition else {
                return .failure(DecodeError("the state is of partition \(statePartition), not \(partition)"))
            }
            let stateOffset = u64(10)
            guard stateOffset == nextOffset else {
                return .failure(DecodeError("the state is at offset \(stateOffset), not \(nextOffset)"))
            }
            let count = Int(u32(18))
            let body = raw.count - 26
            guard body % entrySize == 0, body / entrySize == count else {
                return .failure(DecodeError("\(count) sensors announced, \(body) bytes of entries (\(entrySize) each)"))
            }
            var at = 22
            for _ in 0..<count {
                let sensor = u64(at)
                let home = partitioner.partition(of: sensor)
                guard home == partition else {
                    return .failure(DecodeError("sensor \(sensor) belongs to partition \(home), not \(partition)"))
                }
                let flags = raw[at + 32]
                guard flags & ~7 == 0, (flags >> 1) & 3 != 3 else {
                    return .failure(DecodeError("sensor \(sensor): invalid flags \(flags)"))
                }
                if flags & 1 == 1 {
                    do {
                        _ = try Setting(desired: f64(at + 8), up: f64(at + 16), down: f64(at + 24))
                    } catch {
                        return .failure(DecodeError("sensor \(sensor): \(error)"))
                    }
                }
                at += entrySize
            }
            return .success(count)
        }
        return try result.get()
    }
}
