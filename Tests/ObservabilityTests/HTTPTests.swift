@testable import ObservabilityHTTP
import Testing

@Suite struct HTTPAddressTests {
    @Test(arguments: [
        ("127.0.0.1:7604", "127.0.0.1", 7604),
        ("0.0.0.0:0", "0.0.0.0", 0),
        ("localhost:80", "localhost", 80),
        ("http://10.0.0.10:7604/", "10.0.0.10", 7604),
        ("[::1]:7604", "::1", 7604),
        ("coordinator:7605", "coordinator", 7605),
    ])
    func parses(_ text: String, _ host: String, _ port: Int) throws {
        let address = try #require(HTTPAddress(text))
        #expect(address == HTTPAddress(host: host, port: port))
    }

    @Test(arguments: ["7604", ":7604", "127.0.0.1", "127.0.0.1:", "127.0.0.1:port", "127.0.0.1:65536", "127.0.0.1:-1",
                      "tcp://127.0.0.1:7604", "[::1]7604", "a/b:80", "127.0.0.1:7604/metrics"])
    func refuses(_ text: String) {
        #expect(HTTPAddress(text) == nil, "\(text)")
    }

    @Test func loopbackAndDescription() throws {
        #expect(try #require(HTTPAddress("127.0.0.1:1")).isLoopback)
        #expect(try #require(HTTPAddress("127.8.9.10:1")).isLoopback)
        #expect(try #require(HTTPAddress("[::1]:1")).isLoopback)
        #expect(try #require(HTTPAddress("localhost:1")).isLoopback)
        #expect(try #require(HTTPAddress("0.0.0.0:1")).isLoopback == false, "all interfaces is not loopback")
        #expect(try #require(HTTPAddress("10.0.0.1:1")).isLoopback == false)
        #expect(HTTPAddress(host: "::1", port: 80).description == "[::1]:80")
        #expect(HTTPAddress(host: "0.0.0.0", port: 7604).description == "0.0.0.0:7604")
    }
}

/// The server-sent events fan-out behind `/api/events`.
@Suite struct EventHubTests {
    @Test func framesAreServerSentEvents() async {
        let hub = EventHub()
        let stream = hub.subscribe()
        hub.publish("snapshot", Array(#"{"t":1}"#.utf8))
        hub.close()
        var frames: [String] = []
        for await frame in stream { frames.append(String(decoding: frame, as: UTF8.self)) }
        #expect(frames == ["event: snapshot\ndata: {\"t\":1}\n\n"])
    }

    @Test func everySubscriberGetsEveryEventInOrder() async {
        let hub = EventHub()
        let a = hub.subscribe(), b = hub.subscribe()
        #expect(hub.subscriberCount == 2)
        for i in 0..<5 { hub.publish("event", Array("\(i)".utf8)) }
        hub.close()
        for stream in [a, b] {
            var data: [String] = []
            for await frame in stream { data.append(String(decoding: frame, as: UTF8.self)) }
            #expect(data == (0..<5).map { "event: event\ndata: \($0)\n\n" })
        }
    }

    @Test func aSlowReaderLosesTheOldestNotTheNewest() async {
        let hub = EventHub()
        let stream = hub.subscribe()
        for i in 0..<40 { hub.publish("event", Array("\(i)".utf8)) }
        hub.close()
        var data: [String] = []
        for await frame in stream { data.append(String(decoding: frame, as: UTF8.self)) }
        #expect(data == (24..<40).map { "event: event\ndata: \($0)\n\n" }, "16 buffered: the latest, in order")
    }

    @Test func closeEndsStreamsAndLaterOnesAtOnce() async {
        let hub = EventHub()
        let open = hub.subscribe()
        hub.close()
        #expect(hub.subscriberCount == 0)
        var count = 0
        for await _ in open { count += 1 }
        let late = hub.subscribe()
        hub.publish("event", [1])
        for await _ in late { count += 1 }
        #expect(count == 0)
    }
}
