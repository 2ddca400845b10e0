import NNG
import Testing

/// The transports the tests run over: in-process, and TCP on the loopback interface.
enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inproc, tcp

    var testDescription: String { rawValue }

    /// Makes `socket` listen on a fresh address of this transport and returns the address.
    func listen(_ socket: Socket, name: String = #function) throws -> String {
        switch self {
        case .inproc:
            let url = NNGTestKit.inprocURL(name)
            try socket.listen(url)
            return url
        case .tcp:
            return try NNGTestKit.listenOnFreeTCPPort(socket)
        }
    }

    /// A fresh address of this transport nobody listens on yet.
    func unusedURL(name: String = #function) throws -> String {
        switch self {
        case .inproc: NNGTestKit.inprocURL(name)
        case .tcp: try NNGTestKit.unusedTCPURL()
        }
    }
}

@Suite("Socket: request/reply, timeouts, close, cancellation, dialing", .timeLimit(.minutes(1)))
struct SocketTests {
    typealias Kit = NNGTestKit

    /// REQ side of one exchange: send `request`, return the reply's bytes.
    static func exchange(_ req: Socket, _ request: [UInt8]) async throws -> [UInt8] {
        try await req.send(request, timeout: Kit.patience)
        return try await req.receive(timeout: Kit.patience).bytes
    }

    @Test(arguments: Transport.allCases)
    func requestReplyRoundTrip(over transport: Transport) async throws {
        let rep = try Socket(.rep)
        let url = try transport.listen(rep)
        let req = try Socket(.req)
        try req.dial(url)
        defer {
            req.close()
            rep.close()
        }

        for round in 0 ..< 3 {
            try await req.send(Kit.utf8("ping \(round)"), timeout: Kit.patience)
            let request = try await rep.receive(timeout: Kit.patience)
            #expect(request.bytes == Kit.utf8("ping \(round)"))
            #expect(request.pipe != nil, "a received message names the pipe it came from")

            try await rep.send(Kit.utf8("pong \(round)"), timeout: Kit.patience)
            let reply = try await req.receive(timeout: Kit.patience)
            #expect(reply.bytes == Kit.utf8("pong \(round)"))
        }
    }

    @Test(arguments: Transport.allCases)
    func pushPullDeliversInOrder(over transport: Transport) async throws {
        let pull = try Socket(.pull)
        let url = try transport.listen(pull)
        let push = try Socket(.push)
        try push.dial(url)
        defer {
            push.close()
            pull.close()
        }

        let count = 20
        async let sent: Void = {
            for index in 0 ..< count { try await push.send([UInt8(index)], timeout: Kit.patience) }
        }()
        var received: [[UInt8]] = []
        for _ in 0 ..< count { received.append(try await pull.receive(timeout: Kit.patience).bytes) }
        try await sent
        #expect(received == (0 ..< count).map { [UInt8($0)] })
    }

    @Test func pairExchangesBothWays() async throws {
        let url = Kit.inprocURL()
        let a = try Socket(.pair1)
        try a.listen(url)
        let b = try Socket(.pair1)
        try b.dial(url)
        defer {
            a.close()
            b.close()
        }

        try await b.send(Kit.utf8("from b"), timeout: Kit.patience)
        #expect(try await a.receive(timeout: Kit.patience).bytes == Kit.utf8("from b"))
        try await a.send(Kit.utf8("from a"), timeout: Kit.patience)
        #expect(try await b.receive(timeout: Kit.patience).bytes == Kit.utf8("from a"))
    }

    @Test func receiveTimeoutEndsWithTimedOut() async throws {
        let rep = try Socket(.rep)
        try rep.listen(Kit.inprocURL())
        defer { rep.close() }

        let clock = ContinuousClock()
        let start = clock.now
        let error = await Kit.error { _ = try await rep.receive(timeout: .milliseconds(50)) }
        let elapsed = clock.now - start
        #expect(error == .timedOut)
        #expect(elapsed >= .milliseconds(45), "the timeout is honoured, not cut short")
        #expect(elapsed < .seconds(5))
    }

    @Test func sendTimeoutWithoutPeerEndsWithTimedOut() async throws {
        // A PUSH socket with no peer has nowhere to put the message: the send waits, then times out
        // (and the wrapper frees the message it took back).
        let push = try Socket(.push)
        try push.listen(Kit.inprocURL())
        defer { push.close() }

        let error = await Kit.error { try await push.send(Kit.utf8("nobody listens"), timeout: .milliseconds(50)) }
        #expect(error == .timedOut)
    }

    @Test func pendingReceiveEndsWithClosedWhenTheSocketCloses() async throws {
        let pull = try Socket(.pull)
        try pull.listen(Kit.inprocURL())

        // The receive's own timeout (30 s) is far beyond the patience of the test: if close did not
        // end it, the outcome would be timedOut, not closed.
        let outcome = try await Kit.interrupted({ _ = try await pull.receive(timeout: .seconds(30)) }, by: .close { pull.close() })
        #expect(outcome.error == .closed)
        #expect(outcome.after < .seconds(5), "close ends the receive promptly")
    }

    @Test func pendingSendEndsWithClosedWhenTheSocketCloses() async throws {
        let push = try Socket(.push)
        try push.listen(Kit.inprocURL())

        let outcome = try await Kit.interrupted({ try await push.send(Kit.utf8("never delivered"), timeout: .seconds(30)) }, by: .close { push.close() })
        #expect(outcome.error == .closed)
    }

    @Test func operationsOnAClosedSocketFailWithClosed() async throws {
        let socket = try Socket(.pair1)
        await socket.close()
        await socket.close()  // idempotent

        #expect(await Kit.error { _ = try await socket.receive(timeout: Kit.patience) } == .closed)
        #expect(await Kit.error { try await socket.send(Kit.utf8("x"), timeout: Kit.patience) } == .closed)
        #expect(throws: NNGError.closed) { try socket.listen(Kit.inprocURL()) }
        #expect(throws: NNGError.closed) { try socket.dial(Kit.inprocURL()) }
    }

    @Test func cancellingAPendingReceiveEndsItPromptlyWithCanceled() async throws {
        let pull = try Socket(.pull)
        try pull.listen(Kit.inprocURL())
        defer { pull.close() }

        let outcome = try await Kit.interrupted({ _ = try await pull.receive(timeout: .seconds(30)) }, by: .cancel)
        #expect(outcome.error == .canceled)
        #expect(outcome.after < .seconds(5), "cancellation ends the receive promptly")

        // The socket is still usable after a cancelled receive.
        let push = try Socket(.push)
        defer { push.close() }
        let url = Kit.inprocURL()
        try pull.listen(url)
        try push.dial(url)
        try await push.send(Kit.utf8("after cancel"), timeout: Kit.patience)
        #expect(try await pull.receive(timeout: Kit.patience).bytes == Kit.utf8("after cancel"))
    }

    @Test func cancellingAPendingSendEndsItWithCanceled() async throws {
        let push = try Socket(.push)
        try push.listen(Kit.inprocURL())
        defer { push.close() }

        let outcome = try await Kit.interrupted({ try await push.send(Kit.utf8("cancelled"), timeout: .seconds(30)) }, by: .cancel)
        #expect(outcome.error == .canceled)
    }

    @Test func receiveInAnAlreadyCancelledTaskEndsWithCanceled() async throws {
        let pull = try Socket(.pull)
        try pull.listen(Kit.inprocURL())
        defer { pull.close() }

        let receiver = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await Kit.error { _ = try await pull.receive(timeout: .seconds(30)) }
        }
        #expect(await receiver.value == .canceled)
    }

    @Test(arguments: Transport.allCases)
    func dialBeforeListenConnectsOnceTheListenerAppears(over transport: Transport) async throws {
        let url = try transport.unusedURL()
        let req = try Socket(.req)
        try req.setReconnect(minimum: .milliseconds(10), maximum: .milliseconds(100))
        defer { req.close() }
        // Nobody listens yet: a non-blocking dial succeeds and keeps retrying in the background.
        try req.dial(url)

        async let reply = Self.exchange(req, Kit.utf8("early request"))

        let rep = try Socket(.rep)
        defer { rep.close() }
        try rep.listen(url)
        let request = try await rep.receive(timeout: Kit.patience)
        #expect(request.bytes == Kit.utf8("early request"))
        try await rep.send(Kit.utf8("late reply"), timeout: Kit.patience)
        #expect(try await reply == Kit.utf8("late reply"))
    }

    @Test func listeningTwiceOnOneAddressFails() throws {
        let first = try Socket(.rep)
        let url = try NNGTestKit.listenOnFreeTCPPort(first)
        defer { first.close() }
        let second = try Socket(.rep)
        defer { second.close() }
        #expect(throws: NNGError.addressInUse) { try second.listen(url) }
    }

    @Test func malformedAddressesAreRejected() throws {
        let socket = try Socket(.rep)
        defer { socket.close() }
        #expect(throws: NNGError.self) { try socket.listen("nonsense://nowhere") }
        #expect(throws: NNGError.self) { try socket.dial("tcp://") }
    }
}
