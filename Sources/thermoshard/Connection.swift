import Foundation
import NNG

/// How a client reaches one of the coordinator's sockets: the address, the flag it came from
/// (for messages) and how long to wait for a connection.
struct Endpoint: Sendable {
    var url: String
    var flag: String
    var connectTimeout: Duration

    /// After this long without a connection, say on standard error what the client waits for.
    static let quietWait = Duration.milliseconds(300)

    /// Dials `socket` (call it on a fresh socket: it takes the socket's pipe events) and waits
    /// until nng has a connection. If none comes within ``quietWait``, says once on standard
    /// error what it waits for; if none comes within `connectTimeout`, throws a
    /// ``RuntimeError`` that names the address.
    func connect(_ socket: Socket) async throws {
        let events = socket.pipeEvents()
        do {
            try socket.dial(url)
        } catch {
            throw RuntimeError("cannot dial \(url) (\(flag)): \(error)")
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
            throw RuntimeError("cannot reach the coordinator at \(url) (\(flag)): no connection within \(timeout)")
        }
    }

    /// One request and its reply over a fresh REQ socket: waits for the connection, then up to
    /// `timeout` for the reply.
    func request(_ bytes: [UInt8], timeout: Duration = .seconds(5)) async throws -> [UInt8] {
        let socket = try Socket(.req)
        defer { socket.close() }
        try await connect(socket)
        do {
            try await socket.send(bytes, timeout: timeout)
            return try await socket.receive(timeout: timeout).bytes
        } catch .timedOut {
            throw RuntimeError("no answer from the coordinator at \(url) (\(flag)) within \(timeout)")
        } catch {
            throw RuntimeError("request to \(url) (\(flag)) failed: \(error)")
        }
    }
}
