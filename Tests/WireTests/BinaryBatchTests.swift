import Control
import Testing
import Wire

@Suite("Binary batches")
struct BinaryBatchTests {
    typealias Kit = CodecTestKit

    /// The bytes of docs/protocol.md's Python example.
    static let documented: [UInt8] = {
        func le(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        var bytes: [UInt8] = [0xFE, 0x54, 0x42, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00]
        bytes += [1] + le(17) + le(21.0.bitPattern) + le(0.5.bitPattern) + le(0.5.bitPattern)
        bytes += [0] + le(17) + le(23.0.bitPattern)
        return bytes
    }()

    @Test func layoutMatchesTheDocumentation() throws {
        var encoder = BinaryBatchEncoder()
        encoder.append(.setting(sensor: 17, try Setting(desired: 21, up: 0.5, down: 0.5)))
        encoder.append(.reading(sensor: 17, temperature: 23))
        #expect(encoder.count == 2)
        #expect(encoder.finish() == Self.documented)
        #expect(Self.documented.count == BinaryBatch.headerSize + BinaryBatch.settingSize + BinaryBatch.readingSize)
        let request = try IngestDecoder.decode(Self.documented).get()
        #expect(request == IngestRequest(items: [
            .setting(sensor: 17, try Setting(desired: 21, up: 0.5, down: 0.5)),
            .reading(sensor: 17, temperature: 23),
        ]))
    }

    @Test func envelopeRoundTrip() throws {
        var encoder = BinaryBatchEncoder(producer: "plant-7 é", seq: .max, capacity: 64)
        encoder.append(.reading(sensor: .max, temperature: 20))
        let bytes = encoder.finish()
        #expect(bytes[4] == 1)
        let request = try IngestDecoder.decode(bytes).get()
        #expect(request.producer == "plant-7 é" && request.seq == .max)
        #expect(request.items == [.reading(sensor: .max, temperature: 20)])
        let empty = try IngestDecoder.decode(BinaryBatchEncoder(producer: String(repeating: "p", count: 256), seq: 0).finish()).get()
        #expect(empty.itemCount == 0 && empty.producer?.utf8.count == 256 && empty.seq == 0)
        #expect(try IngestDecoder.decode(BinaryBatchEncoder().finish()).get() == IngestRequest())
    }

    /// Property: whatever is encoded decodes to the valid items in order, bit for bit, and every
    /// invalid one is rejected at its index.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func roundTrip(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for round in 0..<40 {
            let items = (0..<Int(rng.next() % 300)).map { _ in Kit.randomItem(&rng) }
            var encoder = round % 2 == 0 ? BinaryBatchEncoder(capacity: 1) : BinaryBatchEncoder(producer: "p\(round)", seq: rng.next())
            encoder.append(contentsOf: items)
            let request = try IngestDecoder.decode(encoder.finish()).get()
            let valid = items.filter(Kit.isValid)
            #expect(request.items.count == valid.count)
            for (decoded, original) in zip(request.items, valid) {
                #expect(Kit.identical(decoded, original), "\(original)")
            }
            #expect(request.rejected.map(\.index) == items.indices.filter { !Kit.isValid(items[$0]) })
            #expect(request.itemCount == items.count)
        }
    }

    @Test func invalidValuesAreRejectedByIndex() throws {
        var encoder = BinaryBatchEncoder()
        encoder.append(.reading(sensor: 1, temperature: .nan))
        encoder.append(.reading(sensor: 2, temperature: 20))
        encoder.append(.reading(sensor: 3, temperature: -273.15))
        encoder.append(.setting(sensor: 4, Setting(unchecked: 20, up: -1, down: 0)))
        encoder.append(.setting(sensor: 5, Setting(unchecked: .infinity, up: 1, down: 1)))
        encoder.append(.reading(sensor: 6, temperature: -273.14))
        let request = try IngestDecoder.decode(encoder.finish()).get()
        #expect(request.items == [.reading(sensor: 2, temperature: 20), .reading(sensor: 6, temperature: -273.14)])
        #expect(request.rejected == [
            Rejection(index: 0, error: "temperature must be a finite number"),
            Rejection(index: 2, error: "temperature must be above -273.15"),
            Rejection(index: 3, error: "up must be >= 0"),
            Rejection(index: 4, error: "desired must be a finite number"),
        ])
    }

    @Test func everyTruncationIsAnError() throws {
        var encoder = BinaryBatchEncoder(producer: "producer", seq: 12)
        var rng = SplitMix64(seed: 99)
        for _ in 0..<20 { encoder.append(Kit.randomItem(&rng)) }
        let bytes = encoder.finish()
        #expect((try? IngestDecoder.decode(bytes).get()) != nil)
        for length in 0..<bytes.count {
            let prefix = Array(bytes[..<length])
            guard let error = Kit.refusal(prefix) else {
                Issue.record("a batch cut to \(length) bytes was accepted")
                continue
            }
            if length > 0 {
                #expect(error.message.hasPrefix("binary batch: "), "\(length): \(error)")
                #expect(error.offset.map { $0 <= length } ?? false, "\(length): \(error)")
            }
        }
    }

    @Test func wrongVersion() {
        var bytes = Self.documented
        bytes[3] = 9
        let error = Kit.refusal(bytes)
        #expect(error?.description == "unsupported binary batch version 9 (this build speaks 1)")
        bytes[3] = 0
        #expect(Kit.refusal(bytes)?.description == "unsupported binary batch version 0 (this build speaks 1)")
    }

    @Test func structuralFaults() {
        func refused(_ bytes: [UInt8]) -> String? { Kit.refusal(bytes)?.description }
        let good = Self.documented
        #expect(refused([0xFE]) == "binary batch: truncated header (version missing) at byte 1")
        #expect(refused([0xFE, 0x54, 0x43, 1, 0]) == "binary batch: bad magic (expected FE 54 42) at byte 2")
        #expect(refused([0xFE, 0x00]) == "binary batch: bad magic (expected FE 54 42) at byte 1")
        #expect(refused([0xFE, 0x54, 0x42, 1]) == "binary batch: truncated header (flags missing) at byte 4")
        #expect(refused([0xFE, 0x54, 0x42, 1, 2, 0, 0, 0, 0]) == "binary batch: unknown flags 0b10 at byte 4")
        #expect(refused([0xFE, 0x54, 0x42, 1, 0, 0, 0, 0]) == "binary batch: truncated count at byte 5")
        #expect(refused([0xFE, 0x54, 0x42, 1, 1, 0, 0]) == "binary batch: producer length 0 is not in 1...256 at byte 5")
        #expect(refused([0xFE, 0x54, 0x42, 1, 1, 1, 1] + [UInt8](repeating: 0x61, count: 257))
            == "binary batch: producer length 257 is not in 1...256 at byte 5")
        #expect(refused([0xFE, 0x54, 0x42, 1, 1, 2, 0, 0x61]) == "binary batch: truncated producer (2 bytes, 1 follow) at byte 7")
        #expect(refused([0xFE, 0x54, 0x42, 1, 1, 2, 0, 0xC3, 0x28] + [UInt8](repeating: 0, count: 12))
            == "binary batch: producer is not valid UTF-8 at byte 7")
        #expect(refused([0xFE, 0x54, 0x42, 1, 1, 1, 0, 0x61, 1, 2, 3]) == "binary batch: truncated seq at byte 8")
        // Count against the bytes that follow and against the limit.
        var forged = good
        forged[5] = 0xFF
        forged[6] = 0xFF
        #expect(refused(forged) == "binary batch: count 65535 needs at least 1114095 bytes of records, 50 follow at byte 5")
        var limits = IngestLimits()
        limits.maxItems = 1
        #expect(Kit.refusal(good, limits: limits)?.description == "binary batch: count 2 exceeds the limit of 1 items per request at byte 5")
        #expect(Kit.refusal(good, limits: limits)?.code == .tooLarge)
        // Unknown kind, by record index and offset.
        var kind = good
        kind[9 + 33] = 7
        #expect(refused(kind) == "binary batch: unknown record kind 7 in record 1 at byte 42")
        // A count of 3 where the last record is missing: the count no longer fits 3 x 17 bytes.
        var short = good
        short[5] = 3
        #expect(refused(short) == "binary batch: count 3 needs at least 51 bytes of records, 50 follow at byte 5")
        // A setting cut short in the last record.
        var cut = Array(good.prefix(9)) + Array(good[9..<42]) + [1] + Array(good[43..<59]) + [0, 0, 0]
        cut[5] = 2
        #expect(refused(cut) == "binary batch: truncated record 1 (a setting is 33 bytes, 20 left) at byte 42")
        #expect(refused(good + [0, 0]) == "binary batch: 2 trailing bytes after 2 records at byte 59")
    }

    @Test func encoderReservesAndCounts() {
        var encoder = BinaryBatchEncoder(capacity: 100_000 * 33 + 16)
        for sensor in 0..<1000 as Range<UInt64> { encoder.append(.reading(sensor: sensor, temperature: 20)) }
        #expect(encoder.count == 1000)
        let bytes = encoder.finish()
        #expect(bytes.count == BinaryBatch.headerSize + 1000 * BinaryBatch.readingSize)
        // finish() leaves the encoder usable.
        encoder.append(.reading(sensor: 1, temperature: 1))
        #expect((try? IngestDecoder.decode(encoder.finish()).get())?.items.count == 1001)
    }
}
