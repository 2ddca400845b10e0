/// The reply to an ingest request, JSON for JSON and binary requests alike (docs/protocol.md):
///
/// ```json
/// {"accepted":2,"rejected":[{"index":1,"error":"sensor must be an unsigned 64-bit integer..."}]}
/// {"accepted":0,"error":"not JSON: expected a value, found the end at byte 0"}
/// ```
///
/// `rejected` is always present when the request was not refused whole (possibly `[]`); a
/// request refused whole has `error` instead. Readers must ignore members they do not know:
/// more may be added (e.g. offsets).
public struct IngestReply: Sendable, Hashable {
    /// How many items were accepted (appended to the partition logs).
    public var accepted: Int
    /// Every rejected item, by index in the request, with a reason.
    public var rejected: [Rejection]
    /// Why the whole request was refused, or nil.
    public var error: String?

    public init(accepted: Int, rejected: [Rejection] = [], error: String? = nil) {
        self.accepted = accepted
        self.rejected = rejected
        self.error = error
    }

    /// A reply refusing a whole request.
    public static func refused(_ error: String) -> IngestReply {
        IngestReply(accepted: 0, rejected: [], error: error)
    }

    public func encode() -> [UInt8] {
        var json = JSONWriter(capacity: 32 + rejected.count * 64 + (error?.utf8.count ?? 0))
        json.beginObject()
        json.key("accepted")
        json.value(accepted)
        if error == nil || !rejected.isEmpty {
            json.key("rejected")
            json.beginArray()
            for rejection in rejected {
                json.beginObject()
                json.key("index")
                json.value(rejection.index)
                json.key("error")
                json.value(rejection.error)
                json.endObject()
            }
            json.endArray()
        }
        if let error {
            json.key("error")
            json.value(error)
        }
        json.endObject()
        return json.bytes
    }

    /// Reads a reply; members it does not know are ignored.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> IngestReply {
        func bad(_ problem: String) -> DecodeError { DecodeError("invalid ingest reply: \(problem)") }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw bad("not JSON: \(error)")
        }
        guard case .object(let members) = document else { throw bad("not a JSON object") }
        var accepted: Int?
        var rejected: [Rejection] = []
        var error: String?
        for (name, value) in members {
            switch name {
            case "accepted":
                guard case .number(let number) = value, let count = number.uint64.flatMap(Int.init(exactly:)) else {
                    throw bad("accepted must be a non-negative integer")
                }
                accepted = count
            case "rejected":
                guard case .array(let entries) = value else { throw bad("rejected must be an array") }
                rejected.reserveCapacity(entries.count)
                for entry in entries {
                    guard case .number(let number)? = entry[member: "index"],
                          let index = number.uint64.flatMap(Int.init(exactly:)),
                          case .string(let reason)? = entry[member: "error"]
                    else { throw bad("each rejected entry needs an index (a non-negative integer) and an error (a string)") }
                    rejected.append(Rejection(index: index, error: reason))
                }
            case "error":
                switch value {
                case .string(let reason): error = reason
                case .null: error = nil
                default: throw bad("error must be a string")
                }
            default:
                continue
            }
        }
        guard let accepted else { throw bad("accepted is missing") }
        return IngestReply(accepted: accepted, rejected: rejected, error: error)
    }
}
