public import Control

/// The compact binary batch format for fast producers (docs/protocol.md), little-endian:
///
/// | field    | size | value                                      |
/// |----------|------|--------------------------------------------|
/// | magic    | 3    | `0xFE 'T' 'B'`                             |
/// | version  | 1    | `1`                                        |
/// | flags    | 1    | bit 0: envelope follows; others must be 0  |
/// | producer | 2+n  | if bit 0: u16 length (1...256), UTF-8      |
/// | seq      | 8    | if bit 0: u64                              |
/// | count    | 4    | u32 number of records                      |
///
/// then `count` records, each an item as ``ItemCodec`` lays it out: kind u8 and sensor u64,
/// followed for kind 0 (a reading, 17 bytes) by temperature f64, for kind 1 (a setting, 33
/// bytes) by desired, up and down f64.
///
/// Values are validated as in JSON and rejected by index; structural faults refuse the request.
public enum BinaryBatch {
    public static let magic: [UInt8] = [0xFE, 0x54, 0x42]
    /// The version this build writes and reads.
    public static let version: UInt8 = 1
    /// The size of the header without an envelope: magic, version, flags, count.
    public static let headerSize = 9
    public static let readingSize = ItemCodec.readingSize
    public static let settingSize = ItemCodec.settingSize
    /// The longest producer ID, in UTF-8 bytes (binary and JSON alike).
    public static let maxProducerLength = 256

    static let envelopeFlag: UInt8 = 1

    static func decode(_ bytes: [UInt8], limits: IngestLimits) -> Result<IngestRequest, IngestError> {
        do {
            return .success(try decodeThrowing(bytes, limits: limits))
        } catch {
            return .failure(error)
        }
    }

    private static func decodeThrowing(_ bytes: [UInt8], limits: IngestLimits) throws(IngestError) -> IngestRequest {
        func fault(_ problem: String, at offset: Int, code: RefusalCode = .invalid) -> IngestError {
            IngestError("binary batch: \(problem)", offset: offset, code: code)
        }
        for i in 0..<3 where i < bytes.count && bytes[i] != magic[i] {
            throw fault("bad magic (expected FE 54 42)", at: i)
        }
        guard bytes.count >= 4 else { throw fault("truncated header (version missing)", at: bytes.count) }
        guard bytes[3] == version else {
            throw IngestError("unsupported binary batch version \(bytes[3]) (this build speaks \(version))")
        }
        guard bytes.count >= 5 else { throw fault("truncated header (flags missing)", at: bytes.count) }
        let flags = bytes[4]
        guard flags & ~envelopeFlag == 0 else { throw fault("unknown flags 0b\(String(flags, radix: 2))", at: 4) }

        var reader = ByteReader(bytes, position: 5)
        var request = IngestRequest()
        if flags & envelopeFlag != 0 {
            let start = reader.position
            guard let length = try? reader.read(UInt16.self) else { throw fault("truncated producer length", at: start) }
            guard (1...maxProducerLength).contains(Int(length)) else {
                throw fault("producer length \(length) is not in 1...\(maxProducerLength)", at: start)
            }
            guard reader.remaining >= Int(length) else {
                throw fault("truncated producer (\(length) bytes, \(reader.remaining) follow)", at: reader.position)
            }
            let producer = bytes[reader.position..<reader.position + Int(length)].withUnsafeBufferPointer {
                String(validating: $0, as: UTF8.self)
            }
            guard let producer else { throw fault("producer is not valid UTF-8", at: reader.position) }
            request.producer = producer
            reader = ByteReader(bytes, position: reader.position + Int(length))
            let seqStart = reader.position
            guard let seq = try? reader.read(UInt64.self) else { throw fault("truncated seq", at: seqStart) }
            request.seq = seq
        }

        let countStart = reader.position
        guard let rawCount = try? reader.read(UInt32.self) else { throw fault("truncated count", at: countStart) }
        let count = Int(rawCount)
        guard count <= limits.maxItems else {
            throw fault("count \(count) exceeds the limit of \(limits.maxItems) items per request", at: countStart, code: .tooLarge)
        }
        guard count <= reader.remaining / readingSize else {
            throw fault(
                "count \(count) needs at least \(count * readingSize) bytes of records, \(reader.remaining) follow", at: countStart)
        }

        request.items.reserveCapacity(count)
        for index in 0..<count {
            let start = reader.position
            let fields: ItemCodec.Fields
            do {
                fields = try ItemCodec.readFields(&reader)
            } catch {
                switch error {
                case .truncatedHeader:
                    throw fault("truncated record \(index) (\(bytes.count - start) bytes left)", at: start)
                case .unknownKind(let kind):
                    throw fault("unknown record kind \(kind) in record \(index)", at: start)
                case .truncatedValues(let kind):
                    let (what, size) = kind == ItemCodec.readingKind ? ("a reading", readingSize) : ("a setting", settingSize)
                    throw fault("truncated record \(index) (\(what) is \(size) bytes, \(bytes.count - start) left)", at: start)
                }
            }
            let checked: Result<Item, IngestDecoder.ItemProblem>
            switch fields {
            case .reading(let sensor, let temperature):
                checked = IngestDecoder.reading(sensor: sensor, temperature: temperature)
            case .setting(let sensor, let desired, let up, let down):
                checked = IngestDecoder.setting(sensor: sensor, desired: desired, up: up, down: down)
            }
            switch checked {
            case .success(let item): request.items.append(item)
            case .failure(let problem): request.rejected.append(Rejection(index: index, error: problem.reason))
            }
        }
        guard reader.isAtEnd else {
            throw fault("\(reader.remaining) trailing bytes after \(count) records", at: reader.position)
        }
        return request
    }
}

/// Builds a binary batch. Appending writes straight into one growing array: no per-item
/// allocation beyond the array's growth (reserve with `capacity`).
public struct BinaryBatchEncoder: Sendable {
    private var writer: ByteWriter
    private let countOffset: Int
    /// The records appended so far.
    public private(set) var count = 0

    /// Starts a batch; `producer` and `seq` (the envelope) go together, and a producer ID is
    /// 1...256 UTF-8 bytes (both are preconditions).
    public init(producer: String? = nil, seq: UInt64? = nil, capacity: Int = 4096) {
        precondition((producer == nil) == (seq == nil), "a binary batch's producer and seq go together")
        writer = ByteWriter(capacity: capacity)
        writer.write(bytes: BinaryBatch.magic)
        writer.write(BinaryBatch.version)
        if let producer, let seq {
            precondition(
                (1...BinaryBatch.maxProducerLength).contains(producer.utf8.count),
                "a producer ID is 1...\(BinaryBatch.maxProducerLength) UTF-8 bytes")
            writer.write(BinaryBatch.envelopeFlag)
            writer.write(string: producer)
            writer.write(seq)
        } else {
            writer.write(UInt8(0))
        }
        countOffset = writer.count
        writer.write(UInt32(0))
    }

    /// Appends one record. Values are written as they are; the server validates them.
    public mutating func append(_ item: Item) {
        precondition(count < Int(UInt32.max), "a binary batch holds at most \(UInt32.max) records")
        ItemCodec.write(item, into: &writer)
        count += 1
    }

    public mutating func append(contentsOf items: some Sequence<Item>) {
        for item in items { append(item) }
    }

    /// The batch's bytes, with the record count written into the header.
    public func finish() -> [UInt8] {
        var writer = writer
        writer.patch(UInt32(count), at: countOffset)
        return writer.finish()
    }
}
