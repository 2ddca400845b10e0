public import Control
import NNG
import Wire

/// Sends ingest requests to the coordinator, each over a fresh REQ socket, sending a refused
/// one again as its ``RetryPolicy`` says.
///
/// ```swift
/// let ingest = IngestClient(Endpoint(url: "tcp://127.0.0.1:7600", flag: "--ingest"))
/// let outcome = try await ingest.send([.reading(sensor: 17, temperature: 21.4)])
/// if let refusal = outcome.reply.refusal { print(refusal) }
/// ```
public struct IngestClient: Sendable {
    public var endpoint: Endpoint
    public var retry: RetryPolicy
    /// How long to wait for the request to go out and, again, for its reply.
    public var timeout: Duration

    public init(_ endpoint: Endpoint, retry: RetryPolicy = .standard, timeout: Duration = .seconds(5)) {
        self.endpoint = endpoint
        self.retry = retry
        self.timeout = timeout
    }

    /// Sends `body` (a binary batch or JSON request) and returns the reply that ended it.
    public func send(_ body: [UInt8]) async throws -> IngestOutcome {
        let body = IngestCredential.wrap(body, token: endpoint.token)
        return try await retry.run { try IngestReply.decode(try await endpoint.request(body, timeout: timeout)) }
    }

    /// Sends `items` as one binary batch, in an envelope if given.
    public func send(_ items: some Collection<Item>, envelope: ProducerEnvelope? = nil) async throws -> IngestOutcome {
        try await send(IngestBody.binary(items, envelope: envelope))
    }
}

/// One REQ socket to the coordinator's ingest address kept open for many requests, one in
/// flight at a time (a REQ socket's rule: calls to ``send(_:beforeEachAttempt:)`` must not
/// overlap; open one connection per concurrent sender): for producers that send steadily
/// (the simulator, the bench). Call ``close()`` when done.
public final class IngestConnection: Sendable {
    public let endpoint: Endpoint
    public let retry: RetryPolicy
    public let timeout: Duration
    private let socket: Socket

    /// Connects (``Endpoint/connect(_:)``).
    public init(_ endpoint: Endpoint, retry: RetryPolicy = .standard, timeout: Duration = .seconds(5)) async throws(ClientError) {
        self.endpoint = endpoint
        self.retry = retry
        self.timeout = timeout
        socket = try await endpoint.connected(.req)
    }

    /// Sends `body` and returns the reply that ended it; `beforeEachAttempt` runs just before
    /// each attempt goes out (e.g. to stamp a latency sample).
    public func send(_ body: [UInt8], beforeEachAttempt: () -> Void = {}) async throws -> IngestOutcome {
        let body = IngestCredential.wrap(body, token: endpoint.token)
        return try await retry.run {
            beforeEachAttempt()
            return try IngestReply.decode(try await endpoint.exchange(socket, body, timeout: timeout))
        }
    }

    /// Sends `items` as one binary batch, in an envelope if given.
    public func send(_ items: some Collection<Item>, envelope: ProducerEnvelope? = nil) async throws -> IngestOutcome {
        try await send(IngestBody.binary(items, envelope: envelope))
    }

    /// Closes the socket, off the cooperative pool.
    public func close() async { await socket.close() }
}
