public import Control

/// A heater command as published on the PUB feed (docs/protocol.md). A feed message is the
/// sensor ID in decimal, a space, and JSON:
///
/// ```
/// 17 {"sensor":17,"action":1,"heater":"off","partition":35,"input_offset":1042,"offset":88}
/// ```
///
/// so that subscribing to the prefix `"17 "` gets sensor 17 and never 170. The field names are
/// the command log's: `partition` and `input_offset` name the input item that caused the
/// command, `offset` is the command's place in the durable command log (left out when it has
/// none).
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

    /// The subscription prefix for one sensor's commands: `"17 "`.
    public static func subscriptionPrefix(for sensor: SensorID) -> [UInt8] {
        Array("\(sensor) ".utf8)
    }

    /// The feed message: `17 {"sensor":17,...}`.
    public func encodeFeedMessage() -> [UInt8] {
        var prefix: [UInt8] = []
        prefix.reserveCapacity(128)
        prefix.append(contentsOf: String(sensor).utf8)
        prefix.append(UInt8(ascii: " "))
        var json = JSONWriter(appendingTo: prefix)
        write(to: &json)
        return json.bytes
    }

    /// Just the JSON, e.g. for NDJSON output (no newline).
    public func encodeJSONLine() -> [UInt8] {
        var json = JSONWriter(capacity: 112)
        write(to: &json)
        return json.bytes
    }

    private func write(to json: inout JSONWriter) {
        json.beginObject()
        json.key("sensor")
        json.value(sensor)
        json.key("action")
        json.value(action.rawValue)
        json.key("heater")
        json.value(action.name)
        json.key("partition")
        json.value(partition)
        json.key("input_offset")
        json.value(inputOffset)
        if let commandOffset {
            json.key("offset")
            json.value(commandOffset)
        }
        json.endObject()
    }

    /// Reads a feed message and checks that its prefix names the JSON's sensor.
    public static func decodeFeedMessage(_ bytes: [UInt8]) throws(DecodeError) -> CommandEvent {
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")) else {
            throw DecodeError("invalid feed message: no space after the sensor prefix")
        }
        let prefix = bytes[..<space]
        guard !prefix.isEmpty, prefix.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }),
              prefix.count == 1 || prefix.first != UInt8(ascii: "0"),
              let prefixSensor = UInt64(String(decoding: prefix, as: UTF8.self))
        else {
            throw DecodeError("invalid feed message: the prefix must be a sensor ID in decimal")
        }
        let event = try decodeJSONLine(Array(bytes[(space + 1)...]))
        guard event.sensor == prefixSensor else {
            throw DecodeError("invalid feed message: prefix \(prefixSensor) does not match sensor \(event.sensor)")
        }
        return event
    }

    /// Reads the JSON of one command (a feed message without its prefix, or an NDJSON line).
    /// Members it does not know are ignored.
    public static func decodeJSONLine(_ bytes: [UInt8]) throws(DecodeError) -> CommandEvent {
        func bad(_ problem: String) -> DecodeError { DecodeError("invalid command: \(problem)") }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw bad("not JSON: \(error)")
        }
        guard case .object = document else { throw bad("not a JSON object") }
        func unsigned(_ name: String, required: Bool = true) throws(DecodeError) -> UInt64? {
            switch document[member: name] {
            case nil, .null?:
                if required { throw bad("\(name) is missing") }
                return nil
            case .number(let number)?:
                guard let value = number.uint64 else { throw bad("\(name) must be an unsigned 64-bit integer") }
                return value
            default:
                throw bad("\(name) must be an unsigned 64-bit integer")
            }
        }
        guard let sensor = try unsigned("sensor"),
              let rawAction = try unsigned("action"),
              let rawPartition = try unsigned("partition"),
              let inputOffset = try unsigned("input_offset")
        else { throw bad("a required member is missing") }
        guard let action = UInt8(exactly: rawAction).flatMap(HeaterAction.init(rawValue:)) else {
            throw bad("action must be 0 (on) or 1 (off), not \(rawAction)")
        }
        if let heater = document[member: "heater"] {
            guard heater == .string(action.name) else {
                throw bad("heater must be \"\(action.name)\" for action \(action.rawValue)")
            }
        }
        guard let partition = Int(exactly: rawPartition) else { throw bad("partition \(rawPartition) is out of range") }
        return CommandEvent(
            sensor: sensor, action: action, partition: partition, inputOffset: inputOffset,
            commandOffset: try unsigned("offset", required: false))
    }
}
