import Control
public import Wire

/// The coordinator's credentials and the pure decisions on them: the workers' join token, the
/// producers' tokens (`--producers-file`) and the operators' admin tokens (`--admin-token-file`).
/// Files are read by the executable; this only parses their text and decides. Every token
/// comparison takes the same time whatever the bytes (``constantTimeEqual(_:_:)``), so that
/// timing does not tell an attacker how much of a guess was right.
public enum Credentials {
    /// Tokens are at least this long, so that no one sets a guessable one by mistake.
    public static let minimumTokenBytes = 16

    /// Whether `a` and `b` are equal, in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        var difference = UInt64(a.count ^ b.count)
        // Walk the longer one in full; the shorter repeats (its length differs anyway).
        let (long, short) = a.count >= b.count ? (Array(a), Array(b)) : (Array(b), Array(a))
        for index in long.indices {
            let other = short.isEmpty ? 0 : short[index % short.count]
            difference |= UInt64(long[index] ^ other)
        }
        return difference == 0
    }

    /// A token file's token: its text without surrounding white space; refused if shorter than
    /// ``minimumTokenBytes`` or if it holds white space inside (a file of several lines).
    public static func token(fromFile text: String, name: String) throws(CredentialError) -> String {
        let token = text.trimmingWhitespace()
        guard token.utf8.count >= minimumTokenBytes else {
            throw CredentialError("\(name) holds a token of \(token.utf8.count) bytes; tokens are at least \(minimumTokenBytes) (e.g. openssl rand -hex 32)")
        }
        guard !token.contains(where: \.isWhitespace) else {
            throw CredentialError("\(name) holds white space inside its token; a token file holds one token")
        }
        return token
    }
}

/// A credential file that cannot be used; the text names the file and the line.
public struct CredentialError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a producer may send.
public enum ProducerPermission: String, Sendable, Hashable, CaseIterable {
    case readings, settings, both

    func allows(_ item: Item) -> Bool {
        switch (self, item) {
        case (.both, _), (.readings, .reading), (.settings, .setting): true
        default: false
        }
    }
}

/// The producers' credentials, from `--producers-file`: one producer a line,
///
///     # token                                    name       may send
///     3f1c0d9a6b2e4f8a9c7d5e3b1a0f2e4d         plant-7    readings
///     b8e2f4a6c0d1e3f5a7b9c2d4e6f8a0b1         operator   both
///
/// `TOKEN NAME readings|settings|both`, separated by spaces; blank lines and lines starting
/// with `#` are ignored. Tokens are unique and at least 16 bytes; names are 1 to 256 bytes.
/// Where it is configured every ingest request must carry a credential frame
/// (``IngestCredential``) with one of the tokens, may only hold items its producer may send, and
/// an idempotent envelope's `producer` must be the producer's name or start with `NAME/`.
public struct ProducerCredentials: Sendable {
    public struct Producer: Sendable, Hashable {
        public let token: [UInt8]
        public let name: String
        public let permission: ProducerPermission
    }

    public let producers: [Producer]

    public init(producers: [Producer]) { self.producers = producers }

    /// Parses the file's text; `file` names it in errors.
    public init(parsing text: String, file: String) throws(CredentialError) {
        var producers: [Producer] = []
        var tokens: Set<[UInt8]> = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let where_ = "\(file) line \(index + 1)"
            let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard fields.count == 3 else {
                throw CredentialError("\(where_): expected 'TOKEN NAME readings|settings|both', found \(fields.count) field\(fields.count == 1 ? "" : "s")")
            }
            guard fields[0].utf8.count >= Credentials.minimumTokenBytes else {
                throw CredentialError("\(where_): the token has \(fields[0].utf8.count) bytes; tokens are at least \(Credentials.minimumTokenBytes)")
            }
            guard fields[0].utf8.count <= IngestCredential.maximumTokenBytes else {
                throw CredentialError("\(where_): the token has more than \(IngestCredential.maximumTokenBytes) bytes")
            }
            guard fields[1].utf8.count <= 256 else { throw CredentialError("\(where_): the name has more than 256 bytes") }
            guard let permission = ProducerPermission(rawValue: fields[2]) else {
                throw CredentialError("\(where_): '\(fields[2])' is not readings, settings or both")
            }
            let token = Array(fields[0].utf8)
            guard tokens.insert(token).inserted else { throw CredentialError("\(where_): the token is given twice") }
            producers.append(Producer(token: token, name: fields[1], permission: permission))
        }
        guard !producers.isEmpty else { throw CredentialError("\(file) names no producer (lines 'TOKEN NAME readings|settings|both')") }
        self.producers = producers
    }

    /// The producer holding `token`, looked up by comparing it with every producer's token in
    /// constant time (no early exit, no hash of a secret).
    public func producer(holding token: [UInt8]) -> Producer? {
        var found: Producer?
        for producer in producers where Credentials.constantTimeEqual(producer.token, token) { found = producer }
        return found
    }

    /// Why `request`, sent with `token`, is refused (nil: it may be taken). A refusal is for the
    /// whole request: nothing of it is appended.
    public func refusal(token: [UInt8]?, request: IngestRequest) -> String? {
        guard let token else {
            return "this coordinator requires a producer credential (a token from its producers file, sent in a credential frame; thermoshard: --token-file)"
        }
        guard let producer = producer(holding: token) else { return "unknown producer token" }
        if let index = request.items.firstIndex(where: { !producer.permission.allows($0) }) {
            let kind = if case .setting = request.items[index] { "settings" } else { "readings" }
            return "producer '\(producer.name)' may send \(producer.permission.rawValue) only, not \(kind) (item \(index) of the valid ones); nothing was appended"
        }
        if let name = request.producer, name != producer.name, !name.hasPrefix(producer.name + "/") {
            return "producer '\(producer.name)' may not send as '\(name)' (an envelope's producer is the credential's name or starts with '\(producer.name)/')"
        }
        return nil
    }

    /// Decodes an ingest request and applies the credentials: the one call the ingest path
    /// makes. Without credentials (`self` nil) a credential frame is unwrapped and its token
    /// ignored. A refusal has code `unauthorized` (not retryable).
    public static func decode(_ bytes: [UInt8], credentials: ProducerCredentials?) -> Result<IngestRequest, IngestError> {
        let token: [UInt8]?
        let body: [UInt8]
        switch IngestCredential.unwrap(bytes) {
        case .success(let unwrapped): (token, body) = unwrapped
        case .failure(let error): return .failure(error)
        }
        guard let credentials else { return IngestDecoder.decode(body) }
        // Refuse a request without a credential before reading it: no work for strangers.
        if token == nil, let reason = credentials.refusal(token: nil, request: IngestRequest()) {
            return .failure(IngestError(reason, code: .unauthorized))
        }
        switch IngestDecoder.decode(body) {
        case .success(let request):
            if let reason = credentials.refusal(token: token, request: request) {
                return .failure(IngestError(reason, code: .unauthorized))
            }
            return .success(request)
        case .failure(let error):
            if token.flatMap(credentials.producer(holding:)) == nil {
                return .failure(IngestError("unknown producer token", code: .unauthorized))
            }
            return .failure(error)
        }
    }
}

/// The operators' credentials, from `--admin-token-file`: two lines,
///
///     read  TOKEN      # status and commands
///     write TOKEN      # everything: status, commands and drain
///
/// (blank lines and `#` comments ignored; either line may be left out, then only the other
/// token works; the two must differ). Where configured, every admin request carries `token`.
public struct AdminCredentials: Sendable {
    public let readToken: [UInt8]?
    public let writeToken: [UInt8]?

    public init(readToken: String?, writeToken: String?) {
        self.readToken = readToken.map { Array($0.utf8) }
        self.writeToken = writeToken.map { Array($0.utf8) }
    }

    public init(parsing text: String, file: String) throws(CredentialError) {
        var read: String?
        var write: String?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
            if fields.isEmpty { continue }
            let where_ = "\(file) line \(index + 1)"
            guard fields.count == 2, fields[0] == "read" || fields[0] == "write" else {
                throw CredentialError("\(where_): expected 'read TOKEN' or 'write TOKEN'")
            }
            guard fields[1].utf8.count >= Credentials.minimumTokenBytes else {
                throw CredentialError("\(where_): the token has \(fields[1].utf8.count) bytes; tokens are at least \(Credentials.minimumTokenBytes)")
            }
            if fields[0] == "read" {
                guard read == nil else { throw CredentialError("\(where_): a second read token") }
                read = fields[1]
            } else {
                guard write == nil else { throw CredentialError("\(where_): a second write token") }
                write = fields[1]
            }
        }
        guard read != nil || write != nil else { throw CredentialError("\(file) holds neither a 'read TOKEN' nor a 'write TOKEN' line") }
        if let read, read == write { throw CredentialError("\(file): the read and the write token are the same") }
        self.init(readToken: read, writeToken: write)
    }

    /// The calls that only read (status, the command log); every other needs the write token.
    public static let readCommands: Set<String> = ["status", "commands"]

    /// Why `command` with `token` is refused (nil: allowed).
    public func refusal(command: String, token: String?) -> String? {
        guard let token else {
            return "this coordinator requires an admin token for '\(command)' (thermoshard: --token-file)"
        }
        let bytes = Array(token.utf8)
        let isWrite = writeToken.map { Credentials.constantTimeEqual($0, bytes) } ?? false
        let isRead = readToken.map { Credentials.constantTimeEqual($0, bytes) } ?? false
        if isWrite { return nil }
        if isRead {
            return Self.readCommands.contains(command) ? nil : "'\(command)' needs the write token; this is the read token"
        }
        return "invalid admin token"
    }
}

extension CoordinatorCore {
    /// An ingest request refused for its credential (``ProducerCredentials``).
    public mutating func countIngestUnauthorized() { counters.ingestUnauthorized += 1 }
    /// An admin request refused for its token (``AdminCredentials``).
    public mutating func countAdminUnauthorized() { counters.adminUnauthorized += 1 }

    /// Why a hello is refused for its join token (nil: none is required, or it is right).
    func joinRefusal(_ hello: Hello) -> String? {
        guard let required = settings.joinToken else { return nil }
        guard let token = hello.token else {
            return "unauthorized: this cluster requires a join token (worker --token-file)"
        }
        return Credentials.constantTimeEqual(required, Array(token.utf8)) ? nil : "unauthorized: wrong join token"
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
