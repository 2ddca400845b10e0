import Control

/// The two encodings of a `commands` reply (a page of the durable command log): the
/// documented JSON (docs/protocol.md), written by hand because Foundation's encoder cost more
/// than everything else a reader of the log needs, and a binary page for clients that follow
/// the log at millions of commands a second (`"format":"binary"`; `thermoshard commands`
/// uses it). Binary, little-endian:
///
/// | field   | size | value |
/// |---------|------|-------|
/// | magic   | 3    | `0xFE 'T' 'L'` |
/// | version | 1    | `1` |
/// | start, end, next | 8 each | as in the JSON reply |
/// | count   | 4    | u32 |
/// | records | 29 each | as in the binary feed (``FeedBatch``): offset u64, sensor u64, partition u32, input offset u64, action u8 |
extension CommandsReply {
    public static let binaryMagic: [UInt8] = [0xFE, UInt8(ascii: "T"), UInt8(ascii: "L")]
    public static let binaryVersion: UInt8 = 1
    /// The most commands one page holds: JSON, and binary.
    public static let maximumJSONLimit = 10_000
    public static let maximumBinaryLimit = 100_000

    /// The JSON reply, with the keys sorted as the rest of the admin replies have them.
    public func encodeJSON() -> [UInt8] {
        var json = JSONWriter(capacity: 64 + commands.count * 112)
        json.beginObject()
        json.key("commands")
        json.beginArray()
        for entry in commands {
            json.beginObject()
            json.key("action"); json.value(entry.action)
            json.key("heater"); json.value(entry.heater)
            json.key("input_offset"); json.value(entry.inputOffset)
            json.key("offset"); json.value(entry.offset)
            json.key("partition"); json.value(entry.partition)
            json.key("sensor"); json.value(entry.sensor)
            json.endObject()
        }
        json.endArray()
        json.key("end"); json.value(end)
        json.key("next"); json.value(next)
        json.key("start"); json.value(start)
        json.endObject()
        return json.bytes
    }

    public func encodeBinary() -> [UInt8] {
        var w = ByteWriter(capacity: 32 + commands.count * FeedBatch.recordSize)
        w.write(bytes: Self.binaryMagic)
        w.write(Self.binaryVersion)
        w.write(start)
        w.write(end)
        w.write(next)
        w.write(UInt32(commands.count))
        for entry in commands {
            FeedBatch.writeRecord(offset: entry.offset, sensor: entry.sensor, partition: entry.partition, inputOffset: entry.inputOffset,
                                  action: entry.action == HeaterAction.on.rawValue ? .on : .off, into: &w)
        }
        return w.finish()
    }

    public static func isBinary(_ bytes: [UInt8]) -> Bool { bytes.starts(with: binaryMagic) }

    public static func decodeBinary(_ bytes: [UInt8]) throws(DecodeError) -> CommandsReply {
        guard isBinary(bytes) else { throw DecodeError("not a binary commands page (bad magic)") }
        var r = ByteReader(bytes, position: 3)
        let version = try r.read(UInt8.self)
        guard version == binaryVersion else {
            throw DecodeError("unsupported binary commands page version \(version) (this build reads \(binaryVersion))")
        }
        let start = try r.read(UInt64.self)
        let end = try r.read(UInt64.self)
        let next = try r.read(UInt64.self)
        let count = Int(try r.read(UInt32.self))
        guard r.remaining == count * FeedBatch.recordSize else {
            throw DecodeError("binary commands page of \(bytes.count) bytes does not hold \(count) records")
        }
        var commands: [Entry] = []
        commands.reserveCapacity(count)
        for _ in 0..<count {
            let record = try FeedBatch.readRecord(&r)
            commands.append(Entry(offset: record.offset, sensor: record.sensor, action: record.action.rawValue, heater: record.action.name,
                                  partition: record.partition, inputOffset: record.inputOffset))
        }
        return CommandsReply(commands: commands, next: next, start: start, end: end)
    }
}

extension CommandsReply.Entry {
    /// Appends the entry as one NDJSON line (with its newline), keys as in the JSON reply.
    /// Written field by field into the caller's buffer: a follower prints a million a second.
    public func appendJSONLine(to line: inout [UInt8]) {
        line.append(contentsOf: #"{"action":"#.utf8)
        appendDecimal(UInt64(action), to: &line)
        line.append(contentsOf: action == HeaterAction.on.rawValue ? #","heater":"on","input_offset":"#.utf8 : #","heater":"off","input_offset":"#.utf8)
        appendDecimal(inputOffset, to: &line)
        line.append(contentsOf: #","offset":"#.utf8)
        appendDecimal(offset, to: &line)
        line.append(contentsOf: #","partition":"#.utf8)
        appendDecimal(UInt64(partition), to: &line)
        line.append(contentsOf: #","sensor":"#.utf8)
        appendDecimal(sensor, to: &line)
        line.append(contentsOf: "}\n".utf8)
    }

    /// Appends the entry as `thermoshard commands` prints it, one line with its newline:
    /// `OFFSET sensor SENSOR heater on|off (input PARTITION:INPUT_OFFSET)`. Written field by
    /// field like ``appendJSONLine(to:)``: string interpolation per line held a follower to
    /// 600,000 lines a second, its whole CPU.
    public func appendTextLine(to line: inout [UInt8]) {
        appendDecimal(offset, to: &line)
        line.append(contentsOf: " sensor ".utf8)
        appendDecimal(sensor, to: &line)
        line.append(contentsOf: " heater ".utf8)
        line.append(contentsOf: heater.utf8)
        line.append(contentsOf: " (input ".utf8)
        appendDecimal(UInt64(partition), to: &line)
        line.append(UInt8(ascii: ":"))
        appendDecimal(inputOffset, to: &line)
        line.append(contentsOf: ")\n".utf8)
    }
}
