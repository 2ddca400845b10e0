// Thread: `receiveBlocking` must run on a thread of its own, never on Swift's cooperative pool.
import Foundation
import NNG
import Testing

@Suite("Synchronous calls: trySend and receiveBlocking", .timeLimit(.minutes(1)))
struct SynchronousCallTests {
    typealias Kit = NNGTestKit
    typealias Outcome = Result<[UInt8], NNGError>

    /// Starts `socket.receiveBlocking()` on a new thread; its outcome arrives on the stream.
    /// `started` is raised on that thread just before the call.
    static func receiveBlockingOnAThread(_ socket: Socket, started: Signal? = nil) -> AsyncStream<Outcome> {
        let (outcomes, continuation) = AsyncStream.makeStream(of: Outcome.self)
        let thread = Thread {
            started?.raise()
            continuation.yield(Outcome { () throws(NNGError) in try socket.receiveBlocking().bytes })
            continuation.finish()
        }
        thread.start()
        return outcomes
    }

    /// The first outcome, bounded.
    static func first(_ outcomes: AsyncStream<Outcome>) async throws -> Outcome? {
        try await Kit.withTimeout(Kit.patience, "blocking receive") {
            var iterator = outcomes.makeAsyncIterator()
            return await iterator.next()
        }
    }

    @Test func receiveBlockingGetsAMessage() async throws {
        let url = Kit.inprocURL()
        let pull = try Socket(.pull)
        try pull.listen(url)
        let push = try Socket(.push)
        try push.dial(url)
        // Closing the socket also releases the thread should the test fail before it received.
        defer {
            push.close()
            pull.close()
        }

        let outcomes = Self.receiveBlockingOnAThread(pull)
        try await push.send(Kit.utf8("to a blocked thread"), timeout: Kit.patience)
        #expect(try await Self.first(outcomes) == .success(Kit.utf8("to a blocked thread")))
    }

    @Test func receiveBlockingEndsWithClosedWhenTheSocketCloses() async throws {
        let pull = try Socket(.pull)
        try pull.listen(Kit.inprocURL())
        let started = Signal()

        let outcomes = Self.receiveBlockingOnAThread(pull, started: started)
        try await started.wait()
        await pull.close()
        #expect(try await Self.first(outcomes) == .failure(.closed))
    }

    @Test func trySendOnPubNeverWaits() throws {
        // No subscriber: PUB drops the message and succeeds at once.
        let publisher = try Socket(.pub)
        try publisher.listen(Kit.inprocURL())
        defer { publisher.close() }
        for index in 0 ..< 1000 { try publisher.trySend(Kit.utf8("17 \(index)")) }
        try publisher.trySend([])
    }

    @Test func trySendDeliversAndSubscribersFilterByTopic() async throws {
        let subscriber = try Socket(.sub)
        try subscriber.subscribe(to: Kit.utf8("17 "))
        try subscriber.subscribe(to: PubSubTests.end)
        let publisher = try await PubSubTests.connectedPublisher([subscriber], over: .tcp)
        defer {
            subscriber.close()
            publisher.close()
        }

        for reading in PubSubTests.readings { try publisher.trySend(Kit.utf8(reading)) }
        try publisher.trySend(PubSubTests.end)
        #expect(try await PubSubTests.receiveUntilEnd(subscriber) == ["17 21.5", "17 21.7", "17 21.9"])
    }

    @Test func trySendWithNowhereToQueueFailsWithTryAgain() throws {
        // PUSH with no peer (and no send buffer) cannot take the message without waiting.
        let push = try Socket(.push)
        try push.listen(Kit.inprocURL())
        defer { push.close() }
        #expect(throws: NNGError.tryAgain) { try push.trySend(Kit.utf8("nobody there")) }
    }

    @Test func synchronousCallsOnAClosedSocketFailWithClosed() throws {
        let socket = try Socket(.pub)
        socket.close()
        #expect(throws: NNGError.closed) { try socket.trySend(Kit.utf8("x")) }
        #expect(throws: NNGError.closed) { _ = try socket.receiveBlocking() }
    }
}
