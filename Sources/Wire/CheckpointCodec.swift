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

    /// The size of the header before the entries: magic, version, partition, offset, count.
    static let headerSize = 22

    /// Encodes a partition's state in one pass over its sensor table, straight into an array
    /// of the final size (entries in the table's slot order).
    public static func encode(_ state: PartitionState) -> [UInt8] {
        let sensors = state.sensors
        let size = headerSize + sensors.count * entrySize + 4
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            for (i, byte) in magic.enumerated() { base.storeBytes(of: byte, toByteOffset: i, as: UInt8.self) }
            base.storeBytes(of: formatVersion.littleEndian, toByteOffset: 4, as: UInt16.self)
            base.storeBytes(of: UInt32(state.partition).littleEndian, toByteOffset: 6, as: UInt32.self)
            base.storeBytes(of: state.nextOffset.littleEndian, toByteOffset: 10, as: UInt64.self)
            base.storeBytes(of: UInt32(sensors.count).littleEndian, toByteOffset: 18, as: UInt32.self)
            // Straight stores at a moving pointer: one pass over the table's slots, no bounds
            // checks or generic helpers per field (this loop is most of a checkpoint's cost).
            var entry = base + headerSize
            let end = base + (size - 4)
            sensors.forEachEncoded { sensor, desired, up, down, hasSetting, lastCode in
                precondition(entry < end, "the table's count and its entries agree")
                entry.storeBytes(of: sensor.littleEndian, as: UInt64.self)
                entry.storeBytes(of: desired.bitPattern.littleEndian, toByteOffset: 8, as: UInt64.self)
                entry.storeBytes(of: up.bitPattern.littleEndian, toByteOffset: 16, as: UInt64.self)
                entry.storeBytes(of: down.bitPattern.littleEndian, toByteOffset: 24, as: UInt64.self)
                entry.storeBytes(of: (hasSetting ? 1 : 0) | lastCode << 1, toByteOffset: 32, as: UInt8.self)
                entry += entrySize
            }
            precondition(entry == end, "the table's count and its entries agree")
            let checksum = CRC32C.checksum(UnsafeRawBufferPointer(start: base, count: size - 4))
            end.storeBytes(of: checksum.littleEndian, as: UInt32.self)
            initialized = size
        }
    }

    /// Decodes a checkpoint, verifying its checksum and version, into a sensor table sized for
    /// its count. A setting whose `up` or `down` is negative or not a number is refused: the
    /// encoder never writes one, and the table's encoding has no room for it (``SensorTable``).
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> PartitionState {
        let result: Result<PartitionState, DecodeError> = bytes.withUnsafeBytes { raw in
            func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
            func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
            func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
            guard raw.count >= headerSize + 4, raw[0] == magic[0], raw[1] == magic[1], raw[2] == magic[2], raw[3] == magic[3] else {
                return .failure(DecodeError("not a partition checkpoint"))
            }
            let end = raw.count - 4
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<end])) == u32(end) else {
                return .failure(DecodeError("checkpoint checksum mismatch"))
            }
            let version = u16(4)
            guard version == formatVersion else {
                return .failure(DecodeError("unsupported checkpoint format version \(version) (this build reads \(formatVersion))"))
            }
            let partition = Int(u32(6))
            let nextOffset = u64(10)
            let count = Int(u32(18))
            guard count <= (end - headerSize) / entrySize else {
                return .failure(DecodeError("count \(count) exceeds the message"))
            }
            guard end - headerSize == count * entrySize else { return .failure(DecodeError("trailing bytes in checkpoint")) }
            var sensors = SensorTable(minimumCapacity: count)
            // Loads at a moving pointer, stored in the table as they are encoded: this loop is
            // a restore's cost (a million sensors at a failover).
            var entry = raw.baseAddress! + headerSize
            for _ in 0..<count {
                let sensor = UInt64(littleEndian: entry.loadUnaligned(as: UInt64.self))
                let desired = Double(bitPattern: UInt64(littleEndian: entry.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                let up = Double(bitPattern: UInt64(littleEndian: entry.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
                let down = Double(bitPattern: UInt64(littleEndian: entry.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
                let flags = entry.load(fromByteOffset: 32, as: UInt8.self)
                let hasSetting = flags & 1 == 1
                guard !hasSetting || (up >= 0 && down >= 0) else {
                    return .failure(DecodeError("sensor \(sensor): a setting's up and down must be >= 0"))
                }
                sensors.storeEncoded(sensor, desired: desired, up: up, down: down, hasSetting: hasSetting, lastCode: (flags >> 1) & 3)
                entry += entrySize
            }
            return .success(PartitionState(partition: partition, nextOffset: nextOffset, sensors: sensors))
        }
        return try result.get()
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
