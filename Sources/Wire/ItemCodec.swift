public import Control

/// The byte layout of one item, the same in the binary ingest batch (``BinaryBatch``), the
/// ingest journal (Storage's `JournalRecord`) and the cluster frames (``ClusterReply``),
/// little-endian:
///
/// | field             | size | value                        |
/// |-------------------|------|------------------------------|
/// | kind              | 1    | `0` a reading, `1` a setting |
/// | sensor            | 8    | u64                          |
/// | temperature       | 8    | a reading's f64              |
/// | desired, up, down | 24   | a setting's three f64        |
///
/// A reading is ``readingSize`` (17) bytes, a setting ``settingSize`` (33).
public enum ItemCodec {
    public static let readingKind: UInt8 = 0
    public static let settingKind: UInt8 = 1
    public static let readingSize = 17
    public static let settingSize = 33

    /// An item's fields as written, before any validation: ingest validates them
    /// (``IngestDecoder``); the journal and the cluster frames hold items validated before.
    public enum Fields: Sendable, Equatable {
        case reading(sensor: UInt64, temperature: Double)
        case setting(sensor: UInt64, desired: Double, up: Double, down: Double)
    }

    /// Why an item could not be read; the reader's position is then unspecified.
    public enum ReadError: Error, Sendable, Equatable {
        /// Fewer than the kind and the sensor (9 bytes) remain.
        case truncatedHeader
        /// The kind is neither a reading nor a setting.
        case unknownKind(UInt8)
        /// The values of an item of this kind do not fit in what remains.
        case truncatedValues(kind: UInt8)

        public var decodeError: DecodeError {
            switch self {
            case .truncatedHeader: DecodeError("truncated item")
            case .unknownKind(let kind): DecodeError("unknown item kind \(kind)")
            case .truncatedValues(let kind): DecodeError("truncated \(kind == ItemCodec.readingKind ? "reading" : "setting")")
            }
        }
    }

    /// The bytes ``write(_:into:)`` writes for `item`.
    public static func size(of item: Item) -> Int {
        if case .setting = item { settingSize } else { readingSize }
    }

    public static func write(_ item: Item, into writer: inout ByteWriter) {
        switch item {
        case .reading(let sensor, let temperature):
            writer.write(readingKind)
            writer.write(sensor)
            writer.write(temperature)
        case .setting(let sensor, let setting):
            writer.write(settingKind)
            writer.write(sensor)
            writer.write(setting.desired)
            writer.write(setting.up)
            writer.write(setting.down)
        }
    }

    /// Reads one item's fields: the kind and the sensor, then the values of that kind.
    public static func readFields(_ reader: inout ByteReader) throws(ReadError) -> Fields {
        guard let kind = try? reader.read(UInt8.self), let sensor = try? reader.read(UInt64.self) else {
            throw .truncatedHeader
        }
        switch kind {
        case readingKind:
            guard let temperature = try? reader.read(Double.self) else { throw .truncatedValues(kind: kind) }
            return .reading(sensor: sensor, temperature: temperature)
        case settingKind:
            guard let desired = try? reader.read(Double.self), let up = try? reader.read(Double.self),
                  let down = try? reader.read(Double.self)
            else { throw .truncatedValues(kind: kind) }
            return .setting(sensor: sensor, desired: desired, up: up, down: down)
        default:
            throw .unknownKind(kind)
        }
    }

    /// Reads an item validated before it was written (journal, cluster frames): its values are
    /// taken as they are.
    public static func read(_ reader: inout ByteReader) throws(DecodeError) -> Item {
        do {
            switch try readFields(&reader) {
            case .reading(let sensor, let temperature):
                return .reading(sensor: sensor, temperature: temperature)
            case .setting(let sensor, let desired, let up, let down):
                return .setting(sensor: sensor, Setting(unchecked: desired, up: up, down: down))
            }
        } catch {
            throw error.decodeError
        }
    }
}

// Conveniences over ``ItemCodec``, for callers that hold a writer or a reader.
extension ByteWriter {
    /// An item, as ``ItemCodec`` writes it.
    public mutating func write(_ item: Item) { ItemCodec.write(item, into: &self) }
}

extension ByteReader {
    /// An item, as ``ItemCodec/read(_:)`` reads it (values taken as validated before).
    public mutating func readItem() throws(DecodeError) -> Item { try ItemCodec.read(&self) }
}
