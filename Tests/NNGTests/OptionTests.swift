import NNG
import Testing

@Suite("Socket options", .timeLimit(.minutes(1)))
struct OptionTests {
    typealias Kit = NNGTestKit

    /// The receiver refuses a message above its maximum size: the TCP transport drops the
    /// connection carrying it instead of delivering it, and the socket goes on serving others.
    /// The size nng checks is the whole wire message: body plus protocol header (REQ/REP: a
    /// 4-byte request id), so under a limit of 64 the largest request body is 60 bytes.
    /// (REQ/REP, as the services use it. PUSH is avoided on purpose: libnng 1.5.2's PUSH can
    /// lose or crash on a send right after one of its pipes was dropped; see the report.)
    @Test func aMessageAboveTheReceiveMaximumIsDropped() async throws {
        let rep = try Socket(.rep)
        try rep.setReceiveMaxSize(64)
        let events = rep.pipeEvents()
        let url = try NNGTestKit.listenOnFreeTCPPort(rep)
        defer { rep.close() }

        // Exactly at the limit (60 + 4 header bytes): delivered.
        let first = try Socket(.req)
        try first.dial(url)
        let firstPipe = try await Kit.nextAdded(events)
        try await first.send([UInt8](repeating: 1, count: 60), timeout: Kit.patience)
        #expect(try await rep.receive(timeout: Kit.patience).bytes == [UInt8](repeating: 1, count: 60))
        try await rep.send(Kit.utf8("ok"), timeout: Kit.patience)
        #expect(try await first.receive(timeout: Kit.patience).bytes == Kit.utf8("ok"))

        // One byte above it: the receiver drops the connection.
        try await first.send([UInt8](repeating: 2, count: 61), timeout: Kit.patience)
        try await Kit.expectRemoved(firstPipe, from: events)
        // (REQ would resend it on every reconnection, to the same end; stop it.)
        await first.close()

        // The next client's small request is the first message the receiver gets: the
        // oversized one was never delivered.
        let second = try Socket(.req)
        defer { second.close() }
        try second.dial(url)
        try await second.send(Kit.utf8("small"), timeout: Kit.patience)
        #expect(try await rep.receive(timeout: Kit.patience).bytes == Kit.utf8("small"))
        try await rep.send(Kit.utf8("fine"), timeout: Kit.patience)
        #expect(try await second.receive(timeout: Kit.patience).bytes == Kit.utf8("fine"))
    }

    /// The limit is enforced by the transports that read from the network: inproc hands the
    /// message over as is (libnng 1.5.2).
    @Test func inprocIgnoresTheReceiveMaximum() async throws {
        let url = Kit.inprocURL()
        let rep = try Socket(.rep)
        try rep.setReceiveMaxSize(8)
        try rep.listen(url)
        let req = try Socket(.req)
        try req.dial(url)
        defer {
            req.close()
            rep.close()
        }
        try await req.send([UInt8](repeating: 3, count: 100), timeout: Kit.patience)
        #expect(try await rep.receive(timeout: Kit.patience).count == 100)
    }

    @Test func settersAcceptValidValues() throws {
        let req = try Socket(.req)
        defer { req.close() }
        try req.setReceiveMaxSize(1 << 20)
        try req.setReceiveMaxSize(0)  // 0: no limit
        try req.setReconnect(minimum: .milliseconds(50), maximum: .seconds(2))
        try req.setRequestResendTime(.seconds(5))
        try req.setSendBuffer(64)
        try req.setReceiveBuffer(64)
        try req.makeContext().setRequestResendTime(.milliseconds(250))

        let sub = try Socket(.sub)
        defer { sub.close() }
        try sub.subscribe(to: Kit.utf8("17 "))
    }

    @Test func settersRejectOptionsTheProtocolDoesNotHave() throws {
        let rep = try Socket(.rep)
        defer { rep.close() }
        #expect(throws: NNGError.self) { try rep.setRequestResendTime(.seconds(1)) }
        #expect(throws: NNGError.self) { try rep.subscribe(to: Kit.utf8("17 ")) }
        #expect(throws: NNGError.self) { try rep.makeContext().setRequestResendTime(.seconds(1)) }
        // Buffers hold at most 8192 messages.
        #expect(throws: NNGError.self) { try rep.setSendBuffer(100_000) }
        #expect(throws: NNGError.self) { try rep.setReceiveBuffer(-1) }
    }

    @Test func anUnansweredRequestIsResentAtTheSocketsResendTime() async throws {
        let url = Kit.inprocURL()
        let rep = try Socket(.rep)
        try rep.listen(url)
        let req = try Socket(.req)
        try req.setRequestResendTime(.milliseconds(50))
        try req.dial(url)
        defer {
            req.close()
            rep.close()
        }

        try await req.send(Kit.utf8("anyone?"), timeout: Kit.patience)
        // Received, left unanswered (a REP socket drops it when it receives again), and resent.
        #expect(try await rep.receive(timeout: Kit.patience).bytes == Kit.utf8("anyone?"))
        #expect(try await rep.receive(timeout: Kit.patience).bytes == Kit.utf8("anyone?"))
        try await rep.send(Kit.utf8("here"), timeout: Kit.patience)
        #expect(try await req.receive(timeout: Kit.patience).bytes == Kit.utf8("here"))
    }
}
