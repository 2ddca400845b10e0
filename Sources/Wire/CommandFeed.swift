public import Control

/// A heater command as published on the PUB feed: `"<sensor in decimal> <json>"`, so that the
/// subscription prefix `"17 "` gets sensor 17 and never 170.
public struct CommandEvent: Sendable, Hashable {
    public var sensor: SensorID
    public var action: HeaterAction
    public var partition: Int
    /// The offset, in its partition, of the input item that caused the command.
    public var inputOffset: UInt64
    /// The command's offset in the durable command log, when there is one.
    public var commandOffset: UInt64?

    public init(sensor: SensorID, action: HeaterAction, partition: Int, inputOffset: UInt64, commandOffset: UInt64? = nil) {
        self.sensor = sensor
        self.action = action
        self.partition = partition
        self.inputOffset = inputOffset
        self.commandOffset = commandOffset
    }

    public func encodeJSONLine() -> [UInt8] {
        var json = JSONWriter(capacity: 96)
        json.beginObject()
        json.key("sensor"); json.value(sensor)
        json.key("action"); json.value(action.rawValue)
        json.key("heater"); json.value(action.name)
        json.key("partition"); json.value(partition)
        json.key("offset"); json.value(inputOffset)
        if let commandOffset { json.key("command_offset"); json.value(commandOffset) }
        json.endObject()
        return json.bytes
    }

    public func encodeFeedMessage() -> [UInt8] {
        Array("\(sensor) ".utf8) + encodeJSONLine()
    }

    public static func decodeFeedMessage(_ bytes: [UInt8]) throws -> CommandEvent {
        guard let space = bytes.firstIndex(of: 0x20), let prefix = UInt64(String(decoding: bytes[..<space], as: UTF8.self)) else {
            throw IngestError("a feed message starts with the sensor ID and a space")
        }
        guard case .object(let members) = try JSONParser.parse(Array(bytes[(space + 1)...])) else {
            throw IngestError("a feed message's body is a JSON object")
        }
        var sensor: UInt64?
        var action: HeaterAction?
        var partition = 0
        var offset: UInt64 = 0
        var commandOffset: UInt64?
        for (key, value) in members {
            guard case .number(let n) = value else { continue }
            switch key {
            case "sensor": sensor = n.uint64
            case "action": action = n.uint64.flatMap { UInt8(exactly: $0) }.flatMap(HeaterAction.init(rawValue:))
            case "partition": partition = Int(n.uint64 ?? 0)
            case "offset": offset = n.uint64 ?? 0
            case "command_offset": commandOffset = n.uint64
            default: break
            }
        }
        guard let sensor, sensor == prefix, let action else { throw IngestError("malformed feed message") }
        return CommandEvent(sensor: sensor, action: action, partition: partition, inputOffset: offset, commandOffset: commandOffset)
    }
}
