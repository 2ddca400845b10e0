public import Control

/// The compact binary batch format for fast producers (docs/protocol.md), little-endian:
/// magic `0xFE 'T' 'B'`, version u8 (1), flags u8 (bit 0: envelope), [producer (u16 length +
/// UTF-8), seq u64], count u32, then records: kind u8 and sensor u64, then for kind 0 (reading)
/// temperature f64, for kind 1 (setting) desired, up, down f64.
public enum BinaryBatch {
    public static let version: UInt8 = 1
    static let magic: [UInt8] = [0xFE, 0x54, 0x42]

    static func decode(_ bytes: UnsafeRawBufferPointer, limits: IngestLimits) -> Result<IngestRequest, IngestError> {
        var position = 0
        func fail(_ reason: String) -> Result<IngestRequest, IngestError> {
            .failure(IngestError("binary batch: \(reason) at byte \(position)"))
        }
        func need(_ count: Int) -> Bool { bytes.count - position >= count }
        func u8() -> UInt8 { defer { position += 1 }; return bytes[position] }
        func u16() -> UInt16 { defer { position += 2 }; return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt16.self)) }
        func u32() -> UInt32 { defer { position += 4 }; return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)) }
        func u64() -> UInt64 { defer { position += 8 }; return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)) }
        func f64() -> Double { Double(bitPattern: u64()) }

        guard need(5), bytes[0] == magic[0], bytes[1] == magic[1], bytes[2] == magic[2] else { return fail("bad magic") }
        position = 3
        let version = u8()
        guard version == Self.version else {
            return .failure(IngestError("unsupported binary batch version \(version) (this build speaks \(Self.version))"))
        }
        let flags = u8()
        guard flags & ~1 == 0 else { return fail("unknown flags \(flags)") }
        var request = IngestRequest()
        if flags & 1 == 1 {
            guard need(2) else { return fail("truncated producer") }
            let length = Int(u16())
            guard length > 0, length <= 256, need(length + 8) else { return fail("bad producer") }
            guard let producer = String(validating: UnsafeRawBufferPointer(rebasing: bytes[position..<position + length]), as: UTF8.self) else {
                return fail("producer is not UTF-8")
            }
            position += length
            request.producer = producer
            request.seq = u64()
        }
        guard need(4) else { return fail("truncated count") }
        let count = Int(u32())
        guard count <= limits.maxItems else { return fail("\(count) items exceed the limit of \(limits.maxItems) per request") }
        guard count <= (bytes.count - position) / 17 else { return fail("count \(count) exceeds the bytes that follow") }
        request.items.reserveCapacity(count)
        for index in 0..<count {
            guard need(9) else { return fail("truncated record \(index)") }
            let kind = u8()
            let sensor = u64()
            let result: Result<Item, IngestError>
            switch kind {
            case 0:
                guard need(8) else { return fail("truncated record \(index)") }
                let temperature = f64()
                if temperature.isFinite, temperature > Temperature.absoluteZero {
                    request.items.append(.reading(sensor: sensor, temperature: temperature))
                    continue
                }
                result = IngestDecoder.validate(sensor: sensor, temperature: temperature, desired: nil, up: nil, down: nil)
            case 1:
                guard need(24) else { return fail("truncated record \(index)") }
                result = IngestDecoder.validate(sensor: sensor, temperature: nil, desired: f64(), up: f64(), down: f64())
            default:
                position -= 9
                return fail("unknown record kind \(kind) in record \(index)")
            }
            switch result {
            case .success(let item): request.items.append(item)
            case .failure(let error): request.rejected.append(Rejection(index: index, error: error.description))
            }
        }
        guard position == bytes.count else { return fail("\(bytes.count - position) trailing bytes") }
        return .success(request)
    }
}

/// Builds a binary batch; appending does not allocate beyond the array's growth.
public struct BinaryBatchEncoder: Sendable {
    private var writer: ByteWriter
    private let countOffset: Int
    public private(set) var count = 0

    public init(producer: String? = nil, seq: UInt64? = nil, capacity: Int = 4096) {
        writer = ByteWriter(capacity: capacity)
        writer.write(bytes: BinaryBatch.magic)
        writer.write(BinaryBatch.version)
        if let producer, let seq {
            writer.write(UInt8(1))
            writer.write(string: producer)
            writer.write(seq)
        } else {
            writer.write(UInt8(0))
        }
        countOffset = writer.count
        writer.write(UInt32(0))
    }

    public mutating func append(_ item: Item) {
        writer.write(item)
        count += 1
    }

    public func finish() -> [UInt8] {
        var writer = writer
        writer.patch(UInt32(count), at: countOffset)
        return writer.bytes
    }
}
