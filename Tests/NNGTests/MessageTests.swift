import NNG
import Testing

@Suite("Message: owned bytes", .timeLimit(.minutes(1)))
struct MessageTests {
    typealias Kit = NNGTestKit

    @Test func bytesRoundTrip() throws {
        let bytes: [UInt8] = [0, 1, 2, 127, 128, 254, 255]
        let message = try Message(bytes)
        #expect(message.count == bytes.count)
        #expect(message.bytes == bytes)
        #expect(message.withUnsafeBytes { Array($0) } == bytes)
        #expect(message.pipe == nil, "a message made here came through no pipe")
    }

    @Test func copyingInitializerCopies() throws {
        let text = Kit.utf8("sensor 17")
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: text.count, alignment: 1)
        defer { source.deallocate() }
        source.copyBytes(from: text)
        let message = try Message(copying: UnsafeRawBufferPointer(source))
        source.storeBytes(of: UInt8(ascii: "X"), toByteOffset: 0, as: UInt8.self)  // the message owns its own copy
        #expect(message.bytes == text)
    }

    @Test func emptyMessages() throws {
        let empty = try Message([])
        #expect(empty.count == 0)
        #expect(empty.bytes == [])
        let copied = try Message(copying: UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(copied.bytes == [])
        let reserved = try Message(capacity: 1024)
        #expect(reserved.count == 0, "capacity reserves room, it adds no bytes")
    }

    @Test func appending() throws {
        var message = try Message(capacity: 16)
        try message.append(Kit.utf8("17 "))
        try message.append([])
        let tail = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
        defer { tail.deallocate() }
        tail.copyBytes(from: Kit.utf8("21.5"))
        try message.append(UnsafeRawBufferPointer(tail))
        try message.append(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(message.bytes == Kit.utf8("17 21.5"))
        #expect(message.count == 7)

        // Grows past the reserved capacity.
        let big = [UInt8](repeating: 0xAB, count: 10_000)
        try message.append(big)
        #expect(message.count == 7 + big.count)
        #expect(Array(message.bytes.suffix(big.count)) == big)
    }

    @Test func pipeCanBeSetAndCleared() throws {
        var message = try Message([1])
        message.pipe = Pipe(id: 42)
        #expect(message.pipe == Pipe(id: 42))
        message.pipe = nil
        #expect(message.pipe == nil)
    }

    @Test(arguments: Transport.allCases)
    func largePayloadSurvivesASocketRoundTrip(over transport: Transport) async throws {
        let pair = try Socket(.pair1)
        let url = try transport.listen(pair)
        let peer = try Socket(.pair1)
        try peer.dial(url)
        defer {
            peer.close()
            pair.close()
        }

        // 1 MiB with a pattern, so a reordered, truncated or shifted body would show.
        let payload = (0 ..< (1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        var message = try Message(capacity: payload.count)
        try message.append(payload)
        try await peer.send(message, timeout: Kit.patience)
        let received = try await pair.receive(timeout: Kit.patience)
        #expect(received.count == payload.count)
        #expect(received.bytes == payload)

        // Echo the received message itself back (ownership passes straight to the send).
        try await pair.send(received, timeout: Kit.patience)
        #expect(try await peer.receive(timeout: Kit.patience).bytes == payload)
    }

    @Test func aMessageWhoseSendFailedIsFreedNotLeakedOrDoubleFreed() async throws {
        // Repeated failed sends exercise the "take the message back and free it" path; a double
        // free or use after free would crash the test process.
        let closed = try Socket(.push)
        await closed.close()
        for index in 0 ..< 100 {
            let message = try Message([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 256))
            do {
                try await closed.send(message, timeout: Kit.patience)
                Issue.record("a send on a closed socket succeeded")
            } catch {
                #expect(error == .closed)
            }
        }
    }
}
