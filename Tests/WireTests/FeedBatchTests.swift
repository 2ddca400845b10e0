import Control
import Testing
import Wire

@Suite("Binary command feed")
struct FeedBatchTests {
    static func events(_ count: Int, seed: UInt64 = 5) -> [CommandEvent] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            CommandEvent(sensor: i == 0 ? .max : rng.next(), action: rng.next() % 2 == 0 ? .on : .off,
                         partition: Int(rng.next() % 4096), inputOffset: rng.next() >> 8,
                         commandOffset: i == 1 ? nil : UInt64(i))
        }
    }

    @Test func roundTripsInOrderAcrossMessages() throws {
        let events = Self.events(FeedBatch.maximumRecords * 2 + 5)
        let messages = FeedBatch.encode(events)
        #expect(messages.count == 3, "2,048 records a message at most")
        #expect(messages.map { $0.count } == [2048, 2048, 5].map { FeedBatch.headerSize + $0 * FeedBatch.recordSize })
        let decoded = try messages.flatMap { message throws(DecodeError) in try FeedBatch.events(in: message) }
        #expect(decoded == events)
        #expect(FeedBatch.encode([CommandEvent]()).isEmpty)
    }

    @Test func documentedLayout() {
        let event = CommandEvent(sensor: 17, action: .off, partition: 35, inputOffset: 1042, commandOffset: 88)
        let bytes = FeedBatch.encode([event])[0]
        #expect(Array(bytes[0..<8]) == [0xFE, 0x54, 0x46, 1, 1, 0, 0, 0])
        #expect(Array(bytes[8..<16]) == [88, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[16..<24]) == [17, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[24..<28]) == [35, 0, 0, 0])
        #expect(Array(bytes[28..<36]) == [0x12, 0x04, 0, 0, 0, 0, 0, 0])
        #expect(bytes[36] == 1)
    }

    @Test func tellsTextFromBinary() throws {
        let text = CommandEvent(sensor: 17, action: .on, partition: 1, inputOffset: 2, commandOffset: 3)
        #expect(!FeedBatch.isBatch(text.encodeFeedMessage()))
        #expect(try FeedBatch.events(in: text.encodeFeedMessage()) == [text])
        #expect(FeedBatch.isBatch(FeedBatch.encode([text])[0]))
    }

    @Test func refusesWhatIsNotABatch() {
        var good = FeedBatch.encode(Self.events(3))[0]
        var wrongVersion = good
        wrongVersion[3] = 9
        #expect(throws: DecodeError("unsupported binary feed version 9 (this build reads 1)")) { try FeedBatch.decode(wrongVersion) }
        #expect(throws: DecodeError.self) { try FeedBatch.decode(Array(good.dropLast())) }
        var badAction = good
        badAction[FeedBatch.headerSize + FeedBatch.recordSize - 1] = 2
        #expect(throws: DecodeError("binary feed record with action 2 (0 on, 1 off)")) { try FeedBatch.decode(badAction) }
        good[4] = 4
        #expect(throws: DecodeError.self) { try FeedBatch.decode(good) }
    }
}

@Suite("Byte writer")
struct ByteWriterTests {
    @Test func growsAndKeepsEverythingWritten() {
        var w = ByteWriter(capacity: 1)
        var expected: [UInt8] = []
        for i in 0..<1000 {
            w.write(UInt8(i & 0xFF)); expected.append(UInt8(i & 0xFF))
            w.write(UInt32(i)); expected += [UInt8(i & 0xFF), UInt8(i >> 8), 0, 0]
            w.write(bytes: [9, 8, 7][...]); expected += [9, 8, 7]
        }
        w.write(string: "hé"); expected += [3, 0, 0x68, 0xC3, 0xA9]
        w.patch(0xDDCCBBAA, at: 1); expected[1...4] = [0xAA, 0xBB, 0xCC, 0xDD]
        #expect(w.count == expected.count)
        #expect(w.bytes == expected)
        #expect(w.checksum(from: 5) == CRC32C.checksum(Array(expected[5...])))
        #expect(w.finish() == expected)
    }

    @Test func exactCapacityAndEmpty() {
        var w = ByteWriter(capacity: 16)
        w.write(UInt64(1)); w.write(2.5)
        #expect(w.bytes.count == 16)
        #expect(ByteWriter().finish().isEmpty)
    }
}
