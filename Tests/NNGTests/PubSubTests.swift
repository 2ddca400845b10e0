import NNG
import Testing

@Suite("Publish/subscribe: topic prefix filtering", .timeLimit(.minutes(1)))
struct PubSubTests {
    typealias Kit = NNGTestKit

    /// The last message published in each test; every subscriber subscribes to it, so receiving it
    /// means everything published before it has arrived or been filtered out (one pipe keeps order).
    static let end = Kit.utf8("end")

    /// Connects `subscribers` to a fresh publisher and returns it once the publisher has a pipe to
    /// each of them (before that, published messages would go nowhere).
    static func connectedPublisher(_ subscribers: [Socket], over transport: Transport) async throws -> Socket {
        let publisher = try Socket(.pub)
        let events = publisher.pipeEvents()
        let url = try transport.listen(publisher)
        for subscriber in subscribers { try subscriber.dial(url) }
        for _ in subscribers { _ = try await Kit.nextAdded(events) }
        return publisher
    }

    /// Everything `subscriber` receives up to and including the end marker (each wait bounded).
    static func receiveUntilEnd(_ subscriber: Socket) async throws -> [String] {
        var received: [String] = []
        while true {
            let bytes = try await subscriber.receive(timeout: Kit.patience).bytes
            if bytes == end { return received }
            received.append(String(decoding: bytes, as: UTF8.self))
        }
    }

    static let readings = [
        "170 22.0", "17 21.5", "1 19.0", "17x 0", "7 18.0", "171 20.0", "17 21.7", "17", "017 5.0", "17 21.9",
    ]

    @Test(arguments: Transport.allCases)
    func topicPrefixSelectsSensor17AndNever170(over transport: Transport) async throws {
        let subscriber = try Socket(.sub)
        try subscriber.subscribe(to: Kit.utf8("17 "))
        try subscriber.subscribe(to: Self.end)
        let publisher = try await Self.connectedPublisher([subscriber], over: transport)
        defer {
            subscriber.close()
            publisher.close()
        }

        for reading in Self.readings { try await publisher.send(Kit.utf8(reading), timeout: Kit.patience) }
        try await publisher.send(Self.end, timeout: Kit.patience)

        let received = try await Self.receiveUntilEnd(subscriber)
        #expect(received == ["17 21.5", "17 21.7", "17 21.9"])
        #expect(!received.contains { $0.hasPrefix("170 ") || $0.hasPrefix("171 ") })
    }

    @Test func eachSubscriberGetsOnlyItsTopics() async throws {
        let seventeen = try Socket(.sub)
        try seventeen.subscribe(to: Kit.utf8("17 "))
        try seventeen.subscribe(to: Self.end)
        let oneSeventy = try Socket(.sub)
        try oneSeventy.subscribe(to: Kit.utf8("170 "))
        try oneSeventy.subscribe(to: Self.end)
        let everything = try Socket(.sub)
        try everything.subscribe(to: [])  // the empty prefix matches every message
        let publisher = try await Self.connectedPublisher([seventeen, oneSeventy, everything], over: .inproc)
        defer {
            for socket in [seventeen, oneSeventy, everything, publisher] { socket.close() }
        }

        for reading in Self.readings { try await publisher.send(Kit.utf8(reading), timeout: Kit.patience) }
        try await publisher.send(Self.end, timeout: Kit.patience)

        #expect(try await Self.receiveUntilEnd(seventeen) == ["17 21.5", "17 21.7", "17 21.9"])
        #expect(try await Self.receiveUntilEnd(oneSeventy) == ["170 22.0"])
        #expect(try await Self.receiveUntilEnd(everything) == Self.readings)
    }

    @Test func messagesMatchingNoSubscriptionAreDropped() async throws {
        let subscriber = try Socket(.sub)
        try subscriber.subscribe(to: Self.end)
        let publisher = try await Self.connectedPublisher([subscriber], over: .inproc)
        defer {
            subscriber.close()
            publisher.close()
        }
        for reading in Self.readings { try await publisher.send(Kit.utf8(reading), timeout: Kit.patience) }
        try await publisher.send(Self.end, timeout: Kit.patience)
        // The end marker is the first (and only) thing that arrives.
        #expect(try await Self.receiveUntilEnd(subscriber) == [])
    }

    @Test func subscribingIsOnlyForSubSockets() throws {
        let publisher = try Socket(.pub)
        defer { publisher.close() }
        #expect(throws: NNGError.self) { try publisher.subscribe(to: Kit.utf8("17 ")) }
    }
}
