import NNG
import Testing

@Suite("Pipe events: peers connecting and going away", .timeLimit(.minutes(1)))
struct PipeEventTests {
    typealias Kit = NNGTestKit

    @Test(arguments: Transport.allCases)
    func listenerSeesAPeerDialAndClose(over transport: Transport) async throws {
        let rep = try Socket(.rep)
        let events = rep.pipeEvents()
        let url = try transport.listen(rep)
        defer { rep.close() }

        let req = try Socket(.req)
        try req.dial(url)
        let pipe = try await Kit.nextAdded(events)
        #expect(pipe.id > 0)

        // Messages from that peer name the pipe the event announced.
        try await req.send(Kit.utf8("hello"), timeout: Kit.patience)
        let request = try await rep.receive(timeout: Kit.patience)
        #expect(request.pipe == pipe)

        await req.close()
        try await Kit.expectRemoved(pipe, from: events)
    }

    @Test func eachPeerGetsItsOwnPipe() async throws {
        let pull = try Socket(.pull)
        let events = pull.pipeEvents()
        let url = Kit.inprocURL()
        try pull.listen(url)
        defer { pull.close() }

        let first = try Socket(.push)
        try first.dial(url)
        let firstPipe = try await Kit.nextAdded(events)
        let second = try Socket(.push)
        try second.dial(url)
        let secondPipe = try await Kit.nextAdded(events)
        #expect(firstPipe != secondPipe)

        try await second.send(Kit.utf8("from second"), timeout: Kit.patience)
        #expect(try await pull.receive(timeout: Kit.patience).pipe == secondPipe)
        try await first.send(Kit.utf8("from first"), timeout: Kit.patience)
        #expect(try await pull.receive(timeout: Kit.patience).pipe == firstPipe)

        await second.close()
        try await Kit.expectRemoved(secondPipe, from: events)
        await first.close()
        try await Kit.expectRemoved(firstPipe, from: events)
    }

    @Test(arguments: Transport.allCases)
    func dialerSeesTheListenerGoAndReconnectsWhenItReturns(over transport: Transport) async throws {
        let req = try Socket(.req)
        try req.setReconnect(minimum: .milliseconds(10), maximum: .milliseconds(100))
        let events = req.pipeEvents()
        defer { req.close() }

        let firstServer = try Socket(.rep)
        let url = try transport.listen(firstServer)
        try req.dial(url)
        let firstPipe = try await Kit.nextAdded(events)

        await firstServer.close()
        try await Kit.expectRemoved(firstPipe, from: events)

        // A new listener on the same address: the dialer reconnects by itself.
        let secondServer = try Socket(.rep)
        defer { secondServer.close() }
        try secondServer.listen(url)
        let secondPipe = try await Kit.nextAdded(events)
        #expect(secondPipe != firstPipe)

        try await req.send(Kit.utf8("again"), timeout: Kit.patience)
        #expect(try await secondServer.receive(timeout: Kit.patience).bytes == Kit.utf8("again"))
        try await secondServer.send(Kit.utf8("welcome back"), timeout: Kit.patience)
        let reply = try await req.receive(timeout: Kit.patience)
        #expect(reply.bytes == Kit.utf8("welcome back"))
        #expect(reply.pipe == secondPipe)
    }

    @Test func closingTheSocketRemovesItsPipesAndFinishesTheStream() async throws {
        let url = Kit.inprocURL()
        let pair = try Socket(.pair1)
        let events = pair.pipeEvents()
        try pair.listen(url)
        let peer = try Socket(.pair1)
        defer { peer.close() }
        try peer.dial(url)
        let pipe = try await Kit.nextAdded(events)

        await pair.close()
        try await Kit.expectRemoved(pipe, from: events)
        #expect(try await Kit.nextEvent(events) == nil, "the stream finishes when the socket closes")
    }

    /// A stream asked for after the socket closed finishes at once instead of hanging.
    @Test func pipeEventsOfAnAlreadyClosedSocketFinish() async throws {
        let socket = try Socket(.pair1)
        await socket.close()
        let events = socket.pipeEvents()
        #expect(try await Kit.nextEvent(events, within: .milliseconds(500)) == nil)
    }
}
