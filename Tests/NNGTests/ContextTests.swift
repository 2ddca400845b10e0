import NNG
import Testing

@Suite("Context: concurrent request/reply exchanges on one socket", .timeLimit(.minutes(1)))
struct ContextTests {
    typealias Kit = NNGTestKit

    static func request(_ index: Int) -> [UInt8] { Kit.utf8("request \(index)") }
    static func reply(to request: [UInt8]) -> [UInt8] { Kit.utf8("reply to ") + request }

    @Test(arguments: Transport.allCases)
    func severalContextsOnOneRepSocketEachAnswerTheirOwnRequest(over transport: Transport) async throws {
        let count = 8
        let rep = try Socket(.rep)
        let url = try transport.listen(rep)
        let req = try Socket(.req)
        try req.dial(url)
        defer {
            req.close()
            rep.close()
        }
        let servers = try (0 ..< count).map { _ in try rep.makeContext() }
        let clients = try (0 ..< count).map { _ in try req.makeContext() }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    try await client.send(Self.request(index), timeout: Kit.patience)
                    let reply = try await client.receive(timeout: Kit.patience)
                    #expect(reply.bytes == Self.reply(to: Self.request(index)), "client \(index) got its own reply")
                }
            }

            // Every server context takes one request before any is answered: all `count` requests
            // are outstanding on the one REP socket at the same time (one context each).
            let received = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { receivers in
                for (index, server) in servers.enumerated() {
                    receivers.addTask { (index, try await server.receive(timeout: Kit.patience).bytes) }
                }
                var received: [Int: [UInt8]] = [:]
                for try await (index, bytes) in receivers { received[index] = bytes }
                return received
            }
            #expect(received.count == count)
            #expect(Set(received.values) == Set((0 ..< count).map(Self.request)), "each request reached exactly one context")

            // Answer in reverse order of the contexts: each reply still goes back to its requester.
            try await withThrowingTaskGroup(of: Void.self) { repliers in
                for (index, server) in servers.enumerated().reversed() {
                    let request = received[index] ?? []
                    repliers.addTask { try await server.send(Self.reply(to: request), timeout: Kit.patience) }
                }
                try await repliers.waitForAll()
            }
            try await group.waitForAll()
        }
    }

    @Test func contextsServeRequestsInALoop() async throws {
        // A small server: 4 contexts each loop receive -> reply; 40 requests from 8 client contexts.
        let url = Kit.inprocURL()
        let rep = try Socket(.rep)
        try rep.listen(url)
        let req = try Socket(.req)
        try req.dial(url)
        defer {
            req.close()
            rep.close()
        }
        let servers = try (0 ..< 4).map { _ in try rep.makeContext() }
        let clients = try (0 ..< 8).map { _ in try req.makeContext() }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for server in servers {
                group.addTask {
                    // Serves until the socket closes.
                    while true {
                        let request: [UInt8]
                        do {
                            request = try await server.receive(timeout: Kit.patience).bytes
                        } catch let error as NNGError where error == .closed {
                            return
                        }
                        try await server.send(Self.reply(to: request), timeout: Kit.patience)
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { requesters in
                for (index, client) in clients.enumerated() {
                    requesters.addTask {
                        for round in 0 ..< 5 {
                            let request = Kit.utf8("client \(index) round \(round)")
                            try await client.send(request, timeout: Kit.patience)
                            #expect(try await client.receive(timeout: Kit.patience).bytes == Self.reply(to: request))
                        }
                    }
                }
                try await requesters.waitForAll()
            }
            await rep.close()
            try await group.waitForAll()
        }
    }

    @Test func contextReceiveTimeoutEndsWithTimedOut() async throws {
        let rep = try Socket(.rep)
        try rep.listen(Kit.inprocURL())
        defer { rep.close() }
        let context = try rep.makeContext()

        let error = await Kit.error { _ = try await context.receive(timeout: .milliseconds(50)) }
        #expect(error == .timedOut)
    }

    @Test func pendingContextReceiveEndsWithClosedWhenTheContextCloses() async throws {
        let rep = try Socket(.rep)
        try rep.listen(Kit.inprocURL())
        defer { rep.close() }
        let context = try rep.makeContext()

        let outcome = try await Kit.interrupted({ _ = try await context.receive(timeout: .seconds(30)) }, by: .close { context.close() })
        #expect(outcome.error == .closed)
        await context.close()  // idempotent
        #expect(await Kit.error { _ = try await context.receive(timeout: Kit.patience) } == .closed)
    }

    @Test func pendingContextReceiveEndsWithClosedWhenTheSocketCloses() async throws {
        let rep = try Socket(.rep)
        try rep.listen(Kit.inprocURL())
        let context = try rep.makeContext()

        let outcome = try await Kit.interrupted({ _ = try await context.receive(timeout: .seconds(30)) }, by: .close { rep.close() })
        #expect(outcome.error == .closed)
    }

    @Test func cancellingAPendingContextReceiveEndsItWithCanceled() async throws {
        let rep = try Socket(.rep)
        try rep.listen(Kit.inprocURL())
        defer { rep.close() }
        let context = try rep.makeContext()

        let outcome = try await Kit.interrupted({ _ = try await context.receive(timeout: .seconds(30)) }, by: .cancel)
        #expect(outcome.error == .canceled)
        #expect(outcome.after < .seconds(5))
    }

    @Test func anUnansweredRequestIsResentAtTheContextsResendTime() async throws {
        let url = Kit.inprocURL()
        let rep = try Socket(.rep)
        try rep.listen(url)
        let req = try Socket(.req)
        try req.dial(url)
        defer {
            req.close()
            rep.close()
        }
        let client = try req.makeContext()
        try client.setRequestResendTime(.milliseconds(50))
        let server = try rep.makeContext()

        try await client.send(Kit.utf8("are you there?"), timeout: Kit.patience)
        // The first copy is received and left unanswered; the REQ side sends it again by itself.
        #expect(try await server.receive(timeout: Kit.patience).bytes == Kit.utf8("are you there?"))
        #expect(try await server.receive(timeout: Kit.patience).bytes == Kit.utf8("are you there?"))
        try await server.send(Kit.utf8("yes"), timeout: Kit.patience)
        #expect(try await client.receive(timeout: Kit.patience).bytes == Kit.utf8("yes"))
    }
}
