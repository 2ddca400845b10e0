public import Control
import Wire

/// One heater command as the command log keeps it.
public struct CommandRecord: Sendable, Hashable {
    /// Its position in the command log: 0, 1, 2, ... with no gaps.
    public var offset: UInt64
    public var sensor: SensorID
    public var action: HeaterAction
    /// The input partition and the offset of the reading that caused it.
    public var partition: UInt32
    public var inputOffset: UInt64

    public init(offset: UInt64, sensor: SensorID, action: HeaterAction, partition: UInt32, inputOffset: UInt64) {
        self.offset = offset
        self.sensor = sensor
        self.action = action
        self.partition = partition
        self.inputOffset = inputOffset
    }
}

/// The durable command log: every heater command, in publication order, under `commands/` in
/// segment files of fixed-size records named by their first offset. Fixed-size records make
/// reading from any offset one seek.
///
/// Record (36 bytes, little-endian): offset u64, sensor u64, input offset u64, partition u32,
/// action u8, three zero bytes, CRC-32C u32 of the 32 bytes before it.
///
/// Confined to the disk thread: every method blocks.
public final class CommandLog {
    public static let recordSize = 36
    public let directory: String
    public let recordsPerSegment: UInt64
    /// First offsets of the segments, oldest first.
    private var segments: [UInt64] = []
    private var active: File?
    /// The next record's offset.
    public private(set) var end: UInt64 = 0
    private var openFiles: [UInt64: File] = [:]

    init(directory: String, recordsPerSegment: UInt64) {
        self.directory = directory
        self.recordsPerSegment = recordsPerSegment
    }

    func path(_ first: UInt64) -> String {
        "\(directory)/\(FileSystem.padded(first, width: 20)).cmd"
    }

    public struct Recovery: Sendable {
        /// The offset after the last command.
        public var end: UInt64 = 0
        /// Per input partition, the input offset after the last one that caused a logged
        /// command: a replay's commands below it were logged already.
        public var published: [UInt32: UInt64] = [:]
        public var notes: [String] = []
    }

    public static func open(directory: String, recordsPerSegment: UInt64 = 1 << 20) throws(StorageError) -> (CommandLog, Recovery) {
        try FileSystem.createDirectory(directory)
        let log = CommandLog(directory: directory, recordsPerSegment: recordsPerSegment)
        var recovery = Recovery()
        log.segments = try FileSystem.list(directory).compactMap { name in
            name.hasSuffix(".cmd") ? UInt64(name.dropLast(4)) : nil
        }
        var expected = log.segments.first ?? 0
        for (index, first) in log.segments.enumerated() {
            let file = try File(path: log.path(first), create: false)
            let bytes = try file.readAll()
            var valid = 0
            var damage: String?
            while valid + recordSize <= bytes.count {
                guard let record = decode(bytes, at: valid) else { damage = "a record failing its checksum"; break }
                guard record.offset == expected else { damage = "offset \(record.offset) where \(expected) was due"; break }
                recovery.published[record.partition] = max(recovery.published[record.partition] ?? 0, record.inputOffset + 1)
                expected += 1
                valid += recordSize
            }
            if damage == nil, valid < bytes.count { damage = "a record cut short" }
            if let damage {
                guard index == log.segments.count - 1 else {
                    throw StorageError("command log segment \(log.path(first)): \(damage) at byte \(valid), before the last segment; refusing to serve a command log with a hole (move the damaged files away to start anyway)")
                }
                recovery.notes.append("command log segment \(first): \(damage) at byte \(valid); cut off the last \(bytes.count - valid) bytes (a torn write)")
                try file.truncate(to: valid)
                try file.sync()
            }
        }
        log.end = expected
        recovery.end = expected
        if let last = log.segments.last { log.active = try File(path: log.path(last), create: false) }
        return (log, recovery)
    }

    static func encode(_ record: CommandRecord, into w: inout ByteWriter) {
        let start = w.count
        w.write(record.offset)
        w.write(record.sensor)
        w.write(record.inputOffset)
        w.write(record.partition)
        w.write(record.action.rawValue)
        w.write(UInt8(0)); w.write(UInt8(0)); w.write(UInt8(0))
        w.write(w.checksum(from: start))
    }

    static func decode(_ bytes: [UInt8], at position: Int) -> CommandRecord? {
        let body = bytes[position..<(position + 32)]
        guard CRC32C.checksum(body) == RecordFraming.load(bytes, position + 32) else { return nil }
        var r = ByteReader(bytes, position: position)
        do {
            let offset: UInt64 = try r.read()
            let sensor: UInt64 = try r.read()
            let inputOffset: UInt64 = try r.read()
            let partition: UInt32 = try r.read()
            guard let action = HeaterAction(rawValue: try r.read()) else { return nil }
            return CommandRecord(offset: offset, sensor: sensor, action: action, partition: partition, inputOffset: inputOffset)
        } catch {
            return nil
        }
    }

    /// Appends commands whose offsets continue the log.
    public func append(_ records: [CommandRecord]) throws(StorageError) {
        var index = 0
        while index < records.count {
            if active == nil || end % recordsPerSegment == 0 && segments.last != end {
                try active?.sync()
                let file = try File(path: path(end), create: true)
                segments.append(end)
                active = file
                FileSystem.syncDirectory(directory)
            }
            let room = Int(recordsPerSegment - end % recordsPerSegment)
            let chunk = records[index..<min(records.count, index + room)]
            var writer = ByteWriter(capacity: chunk.count * Self.recordSize)
            for record in chunk {
                precondition(record.offset == end + UInt64(writer.count / Self.recordSize), "command offsets must continue the log")
                Self.encode(record, into: &writer)
            }
            try active!.append(writer.finish())
            end += UInt64(chunk.count)
            index += chunk.count
        }
    }

    public func sync() throws(StorageError) { try active?.sync() }

    /// The oldest offset still kept.
    public var start: UInt64 { segments.first ?? 0 }

    /// Up to `limit` commands from `offset` on (fewer at the end of the log).
    public func read(from offset: UInt64, limit: Int) throws(StorageError) -> [CommandRecord] {
        var records: [CommandRecord] = []
        var next = max(offset, start)
        while records.count < limit, next < end {
            let first = next - next % recordsPerSegment
            let file: File
            if let open = openFiles[first] {
                file = open
            } else {
                file = try File(path: path(first), create: false)
                if openFiles.count > 8 { openFiles.removeAll() }
                openFiles[first] = file
            }
            let count = Int(min(UInt64(limit - records.count), end - next, first + recordsPerSegment - next))
            let bytes = try file.read(at: Int(next - first) * Self.recordSize, count: count * Self.recordSize)
            var position = 0
            while position + Self.recordSize <= bytes.count {
                guard let record = Self.decode(bytes, at: position), record.offset == next else {
                    throw StorageError("command log: damaged record at offset \(next)")
                }
                records.append(record)
                next += 1
                position += Self.recordSize
            }
            if bytes.count < count * Self.recordSize { break }
        }
        return records
    }
}
