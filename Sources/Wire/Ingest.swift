public import Control

/// One invalid item of an ingest request: its index in the request and why it was refused.
public struct Rejection: Sendable, Hashable {
    public let index: Int
    public let error: String

    public init(index: Int, error: String) {
        self.index = index
        self.error = error
    }
}

/// A decoded ingest request: the valid items in request order, and every invalid item by index.
public struct IngestRequest: Sendable, Equatable {
    /// The producer that names the request for idempotent retries (the envelope), or nil.
    public var producer: String?
    /// The producer's sequence number for this request; present exactly when `producer` is.
    public var seq: UInt64?
    /// The valid items, in request order.
    public var items: [Item]
    /// Every invalid item, by its index in the request, with a reason; in index order.
    public var rejected: [Rejection]

    /// How many items the request held: `items.count + rejected.count`.
    public var itemCount: Int { items.count + rejected.count }

    public init(producer: String? = nil, seq: UInt64? = nil, items: [Item] = [], rejected: [Rejection] = []) {
        self.producer = producer
        self.seq = seq
        self.items = items
        self.rejected = rejected
    }
}

/// Why a whole ingest request was refused: not JSON, a bad envelope, a bad binary batch header,
/// too many items... The description is what the reply's `error` says, `code` its `code`.
public struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problem, without the offset.
    public let message: String
    /// Where in the request the problem was found, when that is known.
    public let offset: Int?
    /// `invalid`, or `too_large` for a request over a limit that fits once split.
    public let code: RefusalCode

    public init(_ message: String, offset: Int? = nil, code: RefusalCode = .invalid) {
        self.message = message
        self.offset = offset
        self.code = code
    }

    /// `message`, followed by ` at byte N` when the offset is known.
    public var description: String {
        guard let offset else { return message }
        return "\(message) at byte \(offset)"
    }
}

/// The limits on one ingest request (the byte size limit is the server's).
public struct IngestLimits: Sendable, Hashable {
    /// The most items one request may carry.
    public var maxItems: Int
    /// The deepest JSON nesting accepted (an envelope with items is 3 deep).
    public var maxDepth: Int

    public init(maxItems: Int = 100_000, maxDepth: Int = JSONParser.defaultMaxDepth) {
        self.maxItems = maxItems
        self.maxDepth = maxDepth
    }
}

/// Decodes ingest requests (docs/protocol.md): a binary batch when the first byte is `0xFE`,
/// otherwise JSON: one item object, an array of item objects, or an envelope
/// `{"producer":"ID","seq":N,"items":[...]}`.
///
/// Items are judged one by one: valid items are returned in order, each invalid one is listed
/// with its index and a reason. Only faults of the request as a whole (not JSON, a bad envelope
/// or binary header, too many items) refuse it with an ``IngestError``.
public enum IngestDecoder {
    public static func decode(_ bytes: [UInt8], limits: IngestLimits = .init()) -> Result<IngestRequest, IngestError> {
        if bytes.first == BinaryBatch.magic[0] { return BinaryBatch.decode(bytes, limits: limits) }
        return bytes.withUnsafeBytes { decodeJSON($0, limits: limits) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, limits: IngestLimits = .init()) -> Result<IngestRequest, IngestError> {
        if bytes.first == BinaryBatch.magic[0] { return BinaryBatch.decode(Array(bytes), limits: limits) }
        return decodeJSON(bytes, limits: limits)
    }

    static let envelopeFields: Set<String> = ["producer", "seq", "items"]

    static func decodeJSON(_ bytes: UnsafeRawBufferPointer, limits: IngestLimits) -> Result<IngestRequest, IngestError> {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes, maxDepth: limits.maxDepth, maxElements: limits.maxItems)
        } catch {
            switch error.kind {
            case .syntax:
                return .failure(IngestError("not JSON: \(error.reason)", offset: error.offset))
            case .depthLimit:
                return .failure(IngestError("request refused: \(error.reason)", offset: error.offset))
            case .sizeLimit:
                return .failure(IngestError(
                    "request refused: \(error.reason) (at most \(limits.maxItems) items per request)", offset: error.offset, code: .tooLarge))
            }
        }
        var request = IngestRequest()
        let elements: [JSONValue]
        switch document {
        case .array(let array):
            elements = array
        case .object(let members) where members.contains(where: { envelopeFields.contains($0.0) }):
            do {
                let envelope = try Envelope(members)
                request.producer = envelope.producer
                request.seq = envelope.seq
                elements = envelope.items
            } catch {
                return .failure(error)
            }
        case .object:
            elements = [document]
        default:
            return .failure(IngestError(
                "a request is an item object, an array of items or an envelope {\"producer\",\"seq\",\"items\"}, not \(document.kindDescription)"))
        }
        guard elements.count <= limits.maxItems else {
            return .failure(IngestError("request refused: \(elements.count) items exceed the limit of \(limits.maxItems) per request", code: .tooLarge))
        }
        request.items.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            do {
                request.items.append(try item(element))
            } catch {
                request.rejected.append(Rejection(index: index, error: error.reason))
            }
        }
        return .success(request)
    }

    /// The envelope's members, checked.
    struct Envelope {
        var producer: String?
        var seq: UInt64?
        var items: [JSONValue] = []

        init(_ members: [(String, JSONValue)]) throws(IngestError) {
            var items: [JSONValue]?
            for (name, value) in members {
                switch name {
                case "producer":
                    guard case .string(let id) = value, (1...BinaryBatch.maxProducerLength).contains(id.utf8.count) else {
                        throw IngestError("envelope: producer must be a non-empty string of at most \(BinaryBatch.maxProducerLength) bytes")
                    }
                    producer = id
                case "seq":
                    guard case .number(let number) = value, let seq = number.uint64 else {
                        throw IngestError("envelope: seq must be an integer in 0...\(UInt64.max)")
                    }
                    self.seq = seq
                case "items":
                    guard case .array(let array) = value else {
                        throw IngestError("envelope: items must be an array, not \(value.kindDescription)")
                    }
                    items = array
                default:
                    throw IngestError("envelope: unknown field '\(escapedForMessage(name))' (an envelope has producer, seq and items)")
                }
            }
            switch (producer, seq) {
            case (.some, nil): throw IngestError("envelope: producer and seq go together; seq is missing")
            case (nil, .some): throw IngestError("envelope: producer and seq go together; producer is missing")
            default: break
            }
            guard let items else { throw IngestError("envelope: items is missing") }
            self.items = items
        }
    }

    /// Why one item was rejected.
    struct ItemProblem: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// One JSON item object, validated: a reading or a complete setting with values in range.
    static func item(_ value: JSONValue) throws(ItemProblem) -> Item {
        guard case .object(let members) = value else {
            throw ItemProblem("an item must be an object, not \(value.kindDescription)")
        }
        var sensor: SensorID?
        var temperature: Double?
        var desired: Double?
        var up: Double?
        var down: Double?
        for (name, member) in members {
            switch name {
            case "sensor": sensor = try sensorID(member)
            case "temperature": temperature = try number(member, "temperature")
            case "desired": desired = try number(member, "desired")
            case "up": up = try number(member, "up")
            case "down": down = try number(member, "down")
            default: throw ItemProblem("unknown field '\(escapedForMessage(name))'")
            }
        }
        guard let sensor else { throw ItemProblem("sensor is missing") }
        let isSetting = desired != nil || up != nil || down != nil
        if let temperature {
            guard !isSetting else {
                throw ItemProblem("an item is a reading (temperature) or a setting (desired, up, down), not both")
            }
            return try reading(sensor: sensor, temperature: temperature).get()
        }
        guard isSetting else {
            throw ItemProblem("an item needs temperature (a reading) or desired, up and down (a setting)")
        }
        guard let desired, let up, let down else {
            let missing = [("desired", desired), ("up", up), ("down", down)].filter { $0.1 == nil }.map { "'\($0.0)'" }
            throw ItemProblem(
                "a setting needs desired, up and down; \(missing.joined(separator: " and ")) \(missing.count == 1 ? "is" : "are") missing")
        }
        return try setting(sensor: sensor, desired: desired, up: up, down: down).get()
    }

    static func sensorID(_ value: JSONValue) throws(ItemProblem) -> SensorID {
        let requirement = "sensor must be an unsigned 64-bit integer"
        guard case .number(let number) = value else { throw ItemProblem("\(requirement), not \(value.kindDescription)") }
        if let id = number.uint64 { return id }
        let shown = number.text.utf8.count <= 40 ? number.text : String(number.text.prefix(40)) + "..."
        if number.isNegative { throw ItemProblem("\(requirement): \(shown) is negative") }
        if !number.isInteger { throw ItemProblem("\(requirement) written without fraction or exponent: \(shown)") }
        throw ItemProblem("\(requirement): \(shown) is too large (the most is \(UInt64.max))")
    }

    static func number(_ value: JSONValue, _ field: String) throws(ItemProblem) -> Double {
        guard case .number(let number) = value else { throw ItemProblem("\(field) must be a number, not \(value.kindDescription)") }
        return number.double
    }

    /// The value checks of a reading, for JSON items and binary records alike.
    static func reading(sensor: SensorID, temperature: Double) -> Result<Item, ItemProblem> {
        do throws(ValueError) {
            return .success(.reading(sensor: sensor, temperature: try Temperature.reading(temperature)))
        } catch {
            return .failure(ItemProblem(error.description))
        }
    }

    /// The value checks of a setting, for JSON items and binary records alike.
    static func setting(sensor: SensorID, desired: Double, up: Double, down: Double) -> Result<Item, ItemProblem> {
        do throws(ValueError) {
            return .success(.setting(sensor: sensor, try Setting(desired: desired, up: up, down: down)))
        } catch {
            return .failure(ItemProblem(error.description))
        }
    }
}
