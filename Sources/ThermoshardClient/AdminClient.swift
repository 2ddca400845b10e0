import Foundation
public import Wire

/// Calls on the coordinator's admin socket (docs/protocol.md), each a JSON request over a
/// fresh REQ socket. An admin error reply is thrown as a ``ClientError`` with its text and code.
///
/// ```swift
/// let admin = AdminClient(Endpoint(url: "tcp://127.0.0.1:7603", flag: "--admin"))
/// let status = try await admin.status()
/// print(status.counters.processed)
/// ```
public struct AdminClient: Sendable {
    public var endpoint: Endpoint
    /// How long to wait for the request to go out and, again, for its reply (a long poll's
    /// wait comes on top).
    public var timeout: Duration

    public init(_ endpoint: Endpoint, timeout: Duration = .seconds(5)) {
        self.endpoint = endpoint
        self.timeout = timeout
    }

    /// The reply's bytes as the coordinator sent them (an admin error too).
    public func raw(_ request: AdminRequest) async throws -> [UInt8] {
        var request = request
        if request.token == nil { request.token = endpoint.token }
        let wait = Duration.milliseconds(request.waitMilliseconds ?? 0)
        return try await endpoint.request([UInt8](try JSONEncoder().encode(request)), timeout: timeout + wait)
    }

    /// The reply decoded as `Reply`, or the admin error it is thrown.
    public func call<Reply: Decodable>(_ request: AdminRequest, as: Reply.Type = Reply.self) async throws -> Reply {
        let reply = Data(try await raw(request))
        if let error = try? JSONDecoder().decode(AdminError.self, from: reply) {
            throw ClientError(error.error, code: error.code)
        }
        return try JSONDecoder().decode(Reply.self, from: reply)
    }

    /// Workers, partitions and counters.
    public func status() async throws -> StatusReport {
        try await call(AdminRequest(command: "status"))
    }

    /// Hands all of `worker`'s partitions to the others; the coordinator's confirmation.
    /// Draining the last worker is refused unless `force`.
    public func drain(_ worker: String, force: Bool = false) async throws -> String {
        try await call(AdminRequest(command: "drain", worker: worker, force: force), as: AdminOK.self).ok
    }

    /// Up to `limit` commands of the durable command log from offset `from`; with `wait`, the
    /// coordinator holds the request up to that long until one comes (a long poll).
    /// Pages travel in the binary encoding (``CommandsReply/decodeBinary(_:)``): up to 100,000
    /// commands a page, decoded without a JSON parser.
    public func commands(from: UInt64, limit: Int = CommandsReply.maximumBinaryLimit, wait: Duration = .zero) async throws -> CommandsReply {
        let milliseconds = Int(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        let reply = try await raw(AdminRequest(command: "commands", from: from, limit: limit, waitMilliseconds: milliseconds, format: "binary"))
        guard CommandsReply.isBinary(reply) else {
            if let error = try? JSONDecoder().decode(AdminError.self, from: Data(reply)) { throw ClientError(error.error, code: error.code) }
            throw ClientError("the coordinator's commands reply is neither an error nor a binary page (is it older than this client?)")
        }
        do {
            return try CommandsReply.decodeBinary(reply)
        } catch {
            throw ClientError("bad commands page from the coordinator: \(error)")
        }
    }

    /// The command log from `from` on, page by page (a long poll per page); with `follow`,
    /// without end, else until the end of the log as it was.
    public func commandPages(from: UInt64, follow: Bool, limit: Int = CommandsReply.maximumBinaryLimit) -> CommandPages {
        CommandPages(client: self, next: from, follow: follow, limit: limit)
    }
}

/// The pages of the command log, in order: see ``AdminClient/commandPages(from:follow:limit:)``.
public struct CommandPages: AsyncSequence, Sendable {
    public typealias Element = CommandsReply
    let client: AdminClient
    let next: UInt64
    let follow: Bool
    let limit: Int

    /// How long each request of a follower waits for a new command.
    public static let followWait = Duration.seconds(1)

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pages: CommandPages
        var next: UInt64
        var done = false

        public mutating func next() async throws -> CommandsReply? {
            guard !done else { return nil }
            let page = try await pages.client.commands(from: next, limit: pages.limit, wait: pages.follow ? CommandPages.followWait : .zero)
            next = page.next
            if !pages.follow && next >= page.end { done = true }
            return page
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: self, next: next) }
}
