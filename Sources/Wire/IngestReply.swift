/// Why a request was refused, for programs: a stable word (docs/protocol.md lists them all)
/// and whether sending the same request again later may succeed. Ingest replies and admin
/// errors carry it next to their human-readable `error`; a client decides on retries by it,
/// never by the text.
public struct RefusalCode: Sendable, Hashable, RawRepresentable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Too many items wait for workers (backpressure). Nothing was appended; retry later.
    public static let overloaded = RefusalCode("overloaded")
    /// The producer table is full of producers heard too recently to be forgotten, so a new
    /// producer (or a bigger entry) cannot be remembered. Nothing was appended; retry later.
    public static let tooManyProducers = RefusalCode("too_many_producers")
    /// The coordinator is stopping. Nothing was appended; retry (against its restart).
    public static let shuttingDown = RefusalCode("shutting_down")
    /// A seq below the producer's last one. Nothing was appended; never succeeds.
    public static let stale = RefusalCode("stale")
    /// Not a request: not JSON, a bad envelope or binary batch, too deep. Nothing was appended.
    public static let invalid = RefusalCode("invalid")
    /// Over a size limit: bytes per request, items per request, the journal's record limit.
    /// Nothing was appended; split the request.
    public static let tooLarge = RefusalCode("too_large")
    /// The disk failed and the coordinator stops. The request may or may not be in the
    /// journal (as with a lost reply): an idempotent producer sends it again once the
    /// coordinator is back; anyone else cannot know.
    public static let storageFailure = RefusalCode("storage_failure")
    /// No valid credential where the coordinator requires one (ingest: a producer token from
    /// `--producers-file`, or one that may not send settings; admin: the read or write token).
    /// Nothing was appended or done; never succeeds with the same credential.
    public static let unauthorized = RefusalCode("unauthorized")
    /// Admin: no such command.
    public static let unknownCommand = RefusalCode("unknown_command")
    /// Admin: no such worker.
    public static let notFound = RefusalCode("not_found")

    /// Whether the same request, sent again later, may succeed: true only where nothing of it
    /// was appended and the cause passes (load, a full producer table, a restart).
    public var retryable: Bool {
        self == .overloaded || self == .tooManyProducers || self == .shuttingDown
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// The reply to an ingest request, JSON for JSON and binary requests alike (docs/protocol.md):
///
/// ```json
/// {"accepted":2,"rejected":[{"index":1,"error":"sensor must be an unsigned 64-bit integer..."}]}
/// {"accepted":0,"error":"not JSON: expected a value, found the end at byte 0","code":"invalid","retryable":false}
/// {"accepted":10,"rejected":[{"index":10,"error":"..."}],"rejected_total":99990,"truncated":true}
/// ```
///
/// `rejected` is always present when the request was not refused whole (possibly `[]`); a
/// request refused whole has `error`, `code` and `retryable` instead. The third form is the
/// reply kept for an idempotent producer's retry when the first one was too big to keep
/// (``retained(encoded:maxBytes:)``). Readers must ignore members they do not know: more may
/// be added (e.g. offsets).
public struct IngestReply: Sendable, Hashable {
    /// How many items were accepted (appended to the partition logs).
    public var accepted: Int
    /// Every rejected item, by index in the request, with a reason (the first few only when
    /// `rejectedTotal` is set).
    public var rejected: [Rejection]
    /// Why the whole request was refused, or nil.
    public var error: String?
    /// The refusal's code; set with `error`.
    public var code: RefusalCode?
    /// Whether the same request sent again later may succeed; false unless refused.
    public var retryable: Bool
    /// Set when `rejected` is not complete (the first entries only, reasons cut): how many
    /// items were rejected in all.
    public var rejectedTotal: Int?

    /// The most a reply kept for a retry takes, encoded.
    public static let retainedBytes = 1024
    /// The longest rejection reason a kept reply holds, in UTF-8 bytes (longer ones are cut
    /// and end in "...").
    public static let retainedReasonBytes = 100

    public init(accepted: Int, rejected: [Rejection] = [], error: String? = nil, code: RefusalCode? = nil, rejectedTotal: Int? = nil) {
        self.accepted = accepted
        self.rejected = rejected
        self.error = error
        self.code = code
        self.retryable = code?.retryable ?? false
        self.rejectedTotal = rejectedTotal
    }

    /// A reply refusing a whole request.
    public static func refused(_ error: String, code: RefusalCode) -> IngestReply {
        IngestReply(accepted: 0, rejected: [], error: error, code: code)
    }

    /// Whether `rejected` lists only the first rejections.
    public var truncated: Bool { rejectedTotal != nil }

    /// This reply as it is kept for a retry, at most `maxBytes` encoded: `encoded` (this
    /// reply's encoding) itself when it fits, so that a retry gets the first reply word for
    /// word; otherwise the same counts with as many of the first rejections as fit, their
    /// reasons cut to ``retainedReasonBytes``, and `rejected_total`/`truncated` saying so.
    public func retained(encoded: [UInt8], maxBytes: Int = IngestReply.retainedBytes) -> [UInt8] {
        if encoded.count <= maxBytes { return encoded }
        var kept = self
        kept.rejected = []
        kept.rejectedTotal = rejectedTotal ?? rejected.count
        kept.error = error.map { Self.shortened($0, to: Self.retainedReasonBytes) }
        var budget = maxBytes - kept.encode().count
        for rejection in rejected {
            let cut = Rejection(index: rejection.index, error: Self.shortened(rejection.error, to: Self.retainedReasonBytes))
            var one = JSONWriter(capacity: 160)
            Self.write(cut, into: &one)
            let size = one.bytes.count + (kept.rejected.isEmpty ? 0 : 1)
            guard size <= budget else { break }
            kept.rejected.append(cut)
            budget -= size
        }
        return kept.encode()
    }

    /// An encoded reply as it is kept for a retry (see ``retained(encoded:maxBytes:)``); nil
    /// if it is too big and not a reply at all.
    public static func retainedEncoding(of encoded: [UInt8], maxBytes: Int = IngestReply.retainedBytes) -> [UInt8]? {
        if encoded.count <= maxBytes { return encoded }
        guard let reply = try? decode(encoded) else { return nil }
        return reply.retained(encoded: encoded, maxBytes: maxBytes)
    }

    /// `text` cut to at most `limit` UTF-8 bytes at a character boundary, ending in "...".
    static func shortened(_ text: String, to limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var kept = ""
        var bytes = 3
        for scalar in text.unicodeScalars {
            let size = String(scalar).utf8.count
            guard bytes + size <= limit else { break }
            kept.unicodeScalars.append(scalar)
            bytes += size
        }
        return kept + "..."
    }

    static func write(_ rejection: Rejection, into json: inout JSONWriter) {
        json.beginObject()
        json.key("index")
        json.value(rejection.index)
        json.key("error")
        json.value(rejection.error)
        json.endObject()
    }

    public func encode() -> [UInt8] {
        var json = JSONWriter(capacity: 32 + rejected.count * 64 + (error?.utf8.count ?? 0))
        json.beginObject()
        json.key("accepted")
        json.value(accepted)
        if error == nil || !rejected.isEmpty {
            json.key("rejected")
            json.beginArray()
            for rejection in rejected { Self.write(rejection, into: &json) }
            json.endArray()
        }
        if let rejectedTotal {
            json.key("rejected_total")
            json.value(rejectedTotal)
            json.key("truncated")
            json.value(true)
        }
        if let error {
            json.key("error")
            json.value(error)
        }
        if let code {
            json.key("code")
            json.value(code.rawValue)
            json.key("retryable")
            json.value(retryable)
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
        var code: RefusalCode?
        var retryable: Bool?
        var rejectedTotal: Int?
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
            case "code":
                switch value {
                case .string(let word): code = RefusalCode(word)
                case .null: code = nil
                default: throw bad("code must be a string")
                }
            case "retryable":
                guard case .bool(let flag) = value else { throw bad("retryable must be a boolean") }
                retryable = flag
            case "rejected_total":
                guard case .number(let number) = value, let count = number.uint64.flatMap(Int.init(exactly:)) else {
                    throw bad("rejected_total must be a non-negative integer")
                }
                rejectedTotal = count
            default:
                continue
            }
        }
        guard let accepted else { throw bad("accepted is missing") }
        var reply = IngestReply(accepted: accepted, rejected: rejected, error: error, code: code, rejectedTotal: rejectedTotal)
        // The sender's word on retrying wins over this build's table (it may know codes this
        // build does not).
        if let retryable { reply.retryable = retryable }
        return reply
    }
}
