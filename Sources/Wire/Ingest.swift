public import Control

/// One invalid item of a request, by its index in the request, with the reason.
public struct Rejection: Sendable, Hashable {
    public let index: Int
    public let error: String
    public init(index: Int, error: String) {
        self.index = index
        self.error = error
    }
}

/// A decoded ingest request: the valid items in order, and every invalid one with a reason.
public struct IngestRequest: Sendable, Equatable {
    public var producer: String?
    public var seq: UInt64?
    public var items: [Item]
    public var rejected: [Rejection]
    public var itemCount: Int { items.count + rejected.count }

    public init(producer: String? = nil, seq: UInt64? = nil, items: [Item] = [], rejected: [Rejection] = []) {
        self.producer = producer
        self.seq = seq
        self.items = items
        self.rejected = rejected
    }
}

/// Why a whole request was refused.
public struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public struct IngestLimits: Sendable {
    public var maxItems = 100_000
    public var maxDepth = 16
    public init() {}
}

/// Decodes ingest requests: JSON (an item, an array, or an envelope) or a binary batch.
public enum IngestDecoder {
    public static func decode(_ bytes: [UInt8], limits: IngestLimits = .init()) -> Result<IngestRequest, IngestError> {
        bytes.withUnsafeBytes { decode($0, limits: limits) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, limits: IngestLimits = .init()) -> Result<IngestRequest, IngestError> {
        if bytes.first == BinaryBatch.magic[0] { return BinaryBatch.decode(bytes, limits: limits) }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes, maxDepth: limits.maxDepth)
        } catch {
            return .failure(IngestError("not JSON: \(error)"))
        }
        var request = IngestRequest()
        let elements: [JSONValue]
        switch document {
        case .array(let array):
            elements = array
        case .object(let members) where members.contains(where: { $0.0 == "items" || $0.0 == "producer" || $0.0 == "seq" }):
            switch envelope(members) {
            case .success(let (producer, seq, items)):
                request.producer = producer
                request.seq = seq
                elements = items
            case .failure(let error):
                return .failure(error)
            }
        case .object:
            elements = [document]
        default:
            return .failure(IngestError("a request is an item object, an array of items, or an envelope {\"producer\",\"seq\",\"items\"}; got \(document.typeName)"))
        }
        guard elements.count <= limits.maxItems else {
            return .failure(IngestError("\(elements.count) items exceed the limit of \(limits.maxItems) per request"))
        }
        request.items.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            switch item(element) {
            case .success(let item): request.items.append(item)
            case .failure(let error): request.rejected.append(Rejection(index: index, error: error.description))
            }
        }
        return .success(request)
    }

    private static func envelope(_ members: [(String, JSONValue)]) -> Result<(String, UInt64, [JSONValue]), IngestError> {
        var producer: String?
        var seq: UInt64?
        var items: [JSONValue]?
        for (key, value) in members {
            switch (key, value) {
            case ("producer", .string(let name)) where !name.isEmpty && name.utf8.count <= 256: producer = name
            case ("producer", _): return .failure(IngestError("producer must be a non-empty string of at most 256 bytes"))
            case ("seq", .number(let number)):
                guard let value = number.uint64 else { return .failure(IngestError("seq must be a non-negative integer")) }
                seq = value
            case ("seq", _): return .failure(IngestError("seq must be a non-negative integer"))
            case ("items", .array(let array)): items = array
            case ("items", _): return .failure(IngestError("items must be an array"))
            default: return .failure(IngestError("unknown envelope field '\(key)'"))
            }
        }
        guard let producer, let seq else { return .failure(IngestError("an envelope needs both producer and seq")) }
        guard let items else { return .failure(IngestError("an envelope needs items")) }
        return .success((producer, seq, items))
    }

    /// One item object, validated.
    static func item(_ value: JSONValue) -> Result<Item, IngestError> {
        guard case .object(let members) = value else { return .failure(IngestError("an item must be an object, got \(value.typeName)")) }
        var sensor: UInt64?
        var fields: [String: Double] = [:]
        for (key, value) in members {
            switch key {
            case "sensor":
                guard case .number(let number) = value, let id = number.uint64 else {
                    return .failure(IngestError("sensor must be an unsigned 64-bit integer"))
                }
                sensor = id
            case "temperature", "desired", "up", "down":
                guard case .number(let number) = value else { return .failure(IngestError("\(key) must be a number, got \(value.typeName)")) }
                fields[key] = number.double
            default:
                return .failure(IngestError("unknown field '\(key)'"))
            }
        }
        guard let sensor else { return .failure(IngestError("sensor is missing")) }
        return validate(sensor: sensor, temperature: fields["temperature"], desired: fields["desired"], up: fields["up"], down: fields["down"])
    }

    /// The same checks for JSON and binary: a reading or a complete setting, values in range.
    static func validate(sensor: UInt64, temperature: Double?, desired: Double?, up: Double?, down: Double?) -> Result<Item, IngestError> {
        let hasSetting = desired != nil || up != nil || down != nil
        do {
            if let temperature {
                guard !hasSetting else {
                    return .failure(IngestError("an item is a reading (temperature) or a setting (desired, up, down), not both"))
                }
                return .success(.reading(sensor: sensor, temperature: try Temperature.reading(temperature)))
            }
            guard hasSetting else { return .failure(IngestError("an item needs temperature (a reading) or desired, up and down (a setting)")) }
            guard let desired else { return .failure(IngestError("a setting needs desired")) }
            guard let up else { return .failure(IngestError("a setting needs up")) }
            guard let down else { return .failure(IngestError("a setting needs down")) }
            return .success(.setting(sensor: sensor, try Setting(desired: desired, up: up, down: down)))
        } catch {
            return .failure(IngestError(error.description))
        }
    }
}
