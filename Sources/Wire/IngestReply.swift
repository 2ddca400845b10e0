/// The ingest reply: `{"accepted":N,"rejected":[{"index":I,"error":"..."}]}`, or for a request
/// refused whole `{"accepted":0,"error":"..."}`.
public struct IngestReply: Sendable, Equatable {
    public var accepted: Int
    public var rejected: [Rejection]
    public var error: String?

    public init(accepted: Int, rejected: [Rejection] = [], error: String? = nil) {
        self.accepted = accepted
        self.rejected = rejected
        self.error = error
    }

    public func encode() -> [UInt8] {
        var json = JSONWriter(capacity: 32 + rejected.count * 64)
        json.beginObject()
        json.key("accepted")
        json.value(accepted)
        if let error {
            json.key("error")
            json.value(error)
        } else {
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
        json.endObject()
        return json.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> IngestReply {
        guard case .object(let members) = try JSONParser.parse(bytes) else { throw IngestError("a reply is a JSON object") }
        var reply = IngestReply(accepted: 0)
        for (key, value) in members {
            switch (key, value) {
            case ("accepted", .number(let n)): reply.accepted = Int(n.uint64 ?? 0)
            case ("error", .string(let s)): reply.error = s
            case ("rejected", .array(let list)):
                for entry in list {
                    guard case .object(let fields) = entry else { continue }
                    var index = -1
                    var error = ""
                    for (k, v) in fields {
                        if k == "index", case .number(let n) = v { index = Int(n.uint64 ?? 0) }
                        if k == "error", case .string(let s) = v { error = s }
                    }
                    reply.rejected.append(Rejection(index: index, error: error))
                }
            default: break
            }
        }
        return reply
    }
}
