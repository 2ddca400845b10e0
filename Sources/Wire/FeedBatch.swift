import Control

/// How the coordinator publishes heater commands on its PUB socket (`--feed`).
public enum FeedFormat: String, Sendable, CaseIterable {
    /// One message per command, `"17 {json}"` (``CommandEvent/encodeFeedMessage()``): a
    /// subscriber can subscribe to one sensor's prefix. nng sends each message with a system
    /// call of its own, so this feed carries up to about 150,000 commands a second.
    case text
    /// Many commands per message (``FeedBatch``): no per-sensor subscription, but millions of
    /// commands a second to a subscriber.
    case binary
}

/// The binary command feed (`--feed binary`, docs/protocol.md): each PUB message carries up to
/// ``maximumRecords`` commands in command-log order. Little-endian:
///
/// | field   | size | value |
/// |---------|------|-------|
/// | magic   | 3    | `0xFE 'T' 'F'` |
/// | version | 1    | `1` |
/// | count   | 4    | u32 number of records |
/// | records | 29 each | command offset u64, sensor u64, partition u32, input offset u64, action u8 |
///
/// A text feed message starts with a decimal digit, a binary one with `0xFE`, so a subscriber
/// can tell them apart (``isBatch(_:)``).
public enum FeedBatch {
    public static let magic: [UInt8] = [0xFE, UInt8(ascii: "T"), UInt8(ascii: "F")]
    public static let version: UInt8 = 1
    public static let headerSize = 8
    public static let recordSize = 29
    /// About 58 KiB a message: large enough that the per-message cost of nng and the kernel
    /// vanishes, small enough to stay under common receive buffers.
    public static let maximumRecords = 2048

    /// The messages for `events`, in order, each with at most ``maximumRecords``.
    /// (An array, not any collection: called across modules, a generic here is not specialized,
    /// and its metadata lookups per element were a tenth of the coordinator's time.)
    public static func encode(_ events: [CommandEvent]) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        var start = 0
        while start < events.count {
            let end = min(events.count, start + maximumRecords)
            var w = ByteWriter(capacity: headerSize + (end - start) * recordSize)
            w.write(bytes: magic)
            w.write(version)
            w.write(UInt32(end - start))
            for event in events[start..<end] {
                writeRecord(offset: event.commandOffset ?? UInt64.max, sensor: event.sensor, partition: UInt32(truncatingIfNeeded: event.partition),
                            inputOffset: event.inputOffset, action: event.action, into: &w)
            }
            messages.append(w.finish())
            start = end
        }
        return messages
    }

    /// Whether a feed message is a binary batch (else it is a text message).
    public static func isBatch(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == magic[0] && bytes[1] == magic[1] && bytes[2] == magic[2]
    }

    /// The commands of a binary feed message, or a precise error.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> [CommandEvent] {
        guard isBatch(bytes) else { throw DecodeError("not a binary feed message (bad magic)") }
        var r = ByteReader(bytes, position: 3)
        let version = try r.read(UInt8.self)
        guard version == Self.version else {
            throw DecodeError("unsupported binary feed version \(version) (this build reads \(Self.version))")
        }
        let count = Int(try r.read(UInt32.self))
        guard r.remaining == count * recordSize else {
            throw DecodeError("binary feed message of \(bytes.count) bytes does not hold \(count) records")
        }
        var events: [CommandEvent] = []
        events.reserveCapacity(count)
        for _ in 0..<count {
            let record = try readRecord(&r)
            events.append(CommandEvent(sensor: record.sensor, action: record.action, partition: Int(record.partition), inputOffset: record.inputOffset,
                                       commandOffset: record.offset == UInt64.max ? nil : record.offset))
        }
        return events
    }

    /// One 29-byte command record, as the binary feed and the binary command-log pages hold it.
    static func writeRecord(offset: UInt64, sensor: UInt64, partition: UInt32, inputOffset: UInt64, action: HeaterAction, into w: inout ByteWriter) {
        w.write(offset)
        w.write(sensor)
        w.write(partition)
        w.write(inputOffset)
        w.write(action.rawValue)
    }

    static func readRecord(_ r: inout ByteReader) throws(DecodeError) -> (offset: UInt64, sensor: UInt64, partition: UInt32, inputOffset: UInt64, action: HeaterAction) {
        let offset = try r.read(UInt64.self)
        let sensor = try r.read(UInt64.self)
        let partition = try r.read(UInt32.self)
        let input = try r.read(UInt64.self)
        let raw = try r.read(UInt8.self)
        guard let action = HeaterAction(rawValue: raw) else {
            throw DecodeError("binary feed record with action \(raw) (0 on, 1 off)")
        }
        return (offset, sensor, partition, input, action)
    }

    /// The commands of any feed message, text or binary.
    public static func events(in message: [UInt8]) throws(DecodeError) -> [CommandEvent] {
        isBatch(message) ? try decode(message) : [try CommandEvent.decodeFeedMessage(message)]
    }
}
