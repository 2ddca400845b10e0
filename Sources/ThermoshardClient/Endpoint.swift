import Foundation
public import NNG

/// How a client reaches one of the coordinator's sockets: the address, the flag it came from
/// (for messages), how long to wait for a connection, the TLS configuration for a
/// `tls+tcp://` address and the credential (a producer's or an operator's token) its requests
/// carry.
public struct Endpoint: Sendable {
    public var url: String
    public var flag: String
    public var connectTimeout: Duration
    /// Used when `url` is `tls+tcp://` (``TLSConfiguration/load()``ed).
    public var tls: TLSConfiguration?
    /// Sent with every request: an ingest request is wrapped in a credential frame
    /// (``IngestCredential``), an admin request carries it as `token`.
    public var token: String?

    /// The connect timeout when none is given (`--connect-timeout`'s default).
    public static let defaultConnectTimeout = Duration.seconds(10)
    /// After this long without a connection, say on standard error what the client waits for.
    public static let quietWait = Duration.milliseconds(300)

    public init(url: String, flag: String, connectTimeout: Duration = Endpoint.defaultConnectTimeout, tls: TLSConfiguration? = nil, token: String? = nil) {
        self.url = url
        self.flag = flag
        self.connectTimeout = connectTimeout
        self.tls = tls
        self.token = token
    }

    /// Dials `socket` (call it on a fresh socket: it takes the socket's pipe events) and waits
    /// until nng has a connection. If none comes within ``quietWait``, says once on standard
    /// error what it waits for; if none comes within `connectTimeout`, throws a
    /// ``ClientError`` that names the address.
    public func connect(_ socket: Socket) async throws(ClientError) {
        let events = socket.pipeEvents()
        do {
            try socket.dial(url, tls: tls)
        } catch {
            throw ClientError("cannot dial \(url) (\(flag)): \(error)")
        }
        let (url, timeout) = (url, connectTimeout)
        let connected = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await event in events {
                    if case .added = event { return true }
                }
                return false
            }
            group.addTask {
                let quiet = min(timeout, Self.quietWait)
                do {
                    try await Task.sleep(for: quiet)
                    if quiet < timeout {
                        FileHandle.standardError.write(Data("waiting for the coordinator at \(url) (up to \(timeout))\n".utf8))
                        try await Task.sleep(for: timeout - quiet)
                    }
                } catch {}
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard connected else {
            let hint = TLSConfiguration.isTLS(url) ? " (over TLS: check --tls-ca and the server's certificate name, and --tls-cert/--tls-key if the port requires client certificates)" : ""
            throw ClientError("cannot reach the coordinator at \(url) (\(flag)): no connection within \(timeout)\(hint)")
        }
    }

    /// A fresh socket of `kind`, connected (``connect(_:)``); closed again if that fails.
    public func connected(_ kind: Socket.Kind, configure: (Socket) throws(NNGError) -> Void = { _ throws(NNGError) in }) async throws(ClientError) -> Socket {
        let socket: Socket
        do {
            socket = try Socket(kind)
        } catch {
            throw ClientError("cannot open a socket for \(url) (\(flag)): \(error)")
        }
        do {
            try configure(socket)
            try await connect(socket)
        } catch {
            await socket.close()
            throw error as? ClientError ?? ClientError("cannot set up a socket for \(url) (\(flag)): \(error)")
        }
        return socket
    }

    /// One request and its reply over a fresh REQ socket: waits for the connection, then up to
    /// `timeout` for the reply.
    public func request(_ bytes: [UInt8], timeout: Duration = .seconds(5)) async throws(ClientError) -> [UInt8] {
        let socket = try await connected(.req)
        let result = await Result { () async throws(ClientError) in try await exchange(socket, bytes, timeout: timeout) }
        await socket.close()
        return try result.get()
    }

    /// `bytes` sent on the REQ `socket` and its reply, each within `timeout`; failures name
    /// this endpoint.
    func exchange(_ socket: Socket, _ bytes: [UInt8], timeout: Duration) async throws(ClientError) -> [UInt8] {
        do {
            try await socket.send(bytes, timeout: timeout)
            return try await socket.receive(timeout: timeout).bytes
        } catch .timedOut {
            throw ClientError("no answer from the coordinator at \(url) (\(flag)) within \(timeout)")
        } catch {
            throw ClientError("request to \(url) (\(flag)) failed: \(error)")
        }
    }
}

extension Result where Failure == ClientError {
    /// The outcome of an async throwing body, so that cleanup that must be awaited runs after it.
    init(_ body: () async throws(ClientError) -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
