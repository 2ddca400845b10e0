import Control
import Foundation
import Storage
import Testing
import Wire

/// The journal's size limits: no record the reader would reject is ever written, the producer
/// table that opens every segment stays small, and a big table does not make every append roll
/// a segment.
@Suite("Journal limits")
struct JournalLimitTests {
    /// A reply as the coordinator makes it for a request of `accepted` valid and `rejected`
    /// invalid items, each with a long reason.
    func reply(accepted: Int, rejected: Int) -> [UInt8] {
        let reason = "sensor must be an unsigned 64-bit integer: " + String(repeating: "9", count: 200) + " is too large"
        return IngestReply(accepted: accepted, rejected: (0..<rejected).map { Rejection(index: accepted + $0, error: reason) }).encode()
    }

    @Test func aRecordTheReaderWouldRejectIsRefusedOnWriteAndNothingIsWritten() {
        // 300 entries sharing one 1 MiB reply: 300 MiB of payload, past the reader's 256 MiB.
        let shared = [UInt8](repeating: 0x41, count: 1 << 20)
        let entries = (0..<300).map { JournalRecord.ProducerSnapshot(producer: "p\($0)", seq: 1, reply: shared) }
        var writer = ByteWriter()
        #expect(throws: StorageError.self) { try JournalRecord.producers(entries).encode(into: &writer) }
        #expect(writer.count == 0)
        // One under the limit is written whole.
        var small = ByteWriter()
        #expect(throws: Never.self) { try JournalRecord.producers(Array(entries.prefix(2))).encode(into: &small) }
        #expect(small.count == 8 + 1 + 4 + 2 * (2 + 2 + 8 + 4 + (1 << 20)))
    }

    @Test func theReplyKeptForARetryIsBoundedAndSaysWhatItLeftOut() throws {
        var table = ProducerTable()
        table.record(producer: "p", seq: 1, reply: reply(accepted: 10, rejected: 99_990))
        guard case .retry(let kept) = table.verdict(producer: "p", seq: 1) else {
            Issue.record("the producer was forgotten")
            return
        }
        #expect(kept.count <= 1024)
        let decoded = try IngestReply.decode(kept)
        #expect(decoded.accepted == 10)
        #expect(decoded.rejected.first?.index == 10)
        let text = String(decoding: kept, as: UTF8.self)
        #expect(text.contains(#""rejected_total":99990"#))
        #expect(text.contains(#""truncated":true"#))
        // A small reply is kept word for word.
        let small = reply(accepted: 3, rejected: 1)
        table.record(producer: "q", seq: 4, reply: small)
        #expect(table.verdict(producer: "q", seq: 4) == .retry(reply: small))
    }

    /// Ten producers whose requests were rejected item by item (a 30 MB reply each, as in the
    /// report: together past the reader's record limit), acknowledged items before and after,
    /// segments rolling: on reopening every item and every producer is there.
    @Test func producersWithHugeRepliesLoseNothingAcrossSegments() throws {
        let dir = TemporaryDirectory()
        let huge = reply(accepted: 0, rejected: 99_990)
        let kept = IngestReply.retainedEncoding(of: huge)!
        var expected: [JournalRecord.Request] = []
        var next: UInt64 = 0
        func items(_ journal: IngestJournal) throws {
            let items = request(partition: 0, first: next, count: 40)
            next += 40
            expected.append(items)
            try append(journal, [items])
        }
        do {
            let (journal, _) = try IngestJournal.open(directory: dir.path, segmentBytes: 64 << 10) { _ in }
            for i in 0..<10 {
                try items(journal)
                var writer = ByteWriter()
                try JournalRecord.items(.init(producer: "producer-\(i)", seq: 1, reply: kept, runs: [])).encode(into: &writer)
                // The table gets the whole reply (as it did before replies were cut): it keeps the cut one.
                try journal.append(writer.bytes, ends: [:], updates: [.init(producer: "producer-\(i)", seq: 1, reply: huge)])
            }
            // Items until a new segment opens with the producer table, and one more after it.
            while journal.segmentCount < 2 { try items(journal) }
            try items(journal)
        }
        var read: [JournalRecord.Request] = []
        let (_, recovery) = try IngestJournal.open(directory: dir.path, segmentBytes: 64 << 10) { if !$0.runs.isEmpty { read.append($0) } }
        #expect(recovery.notes.isEmpty)
        #expect(read == expected)
        for i in 0..<10 { #expect(recovery.producers.verdict(producer: "producer-\(i)", seq: 1) == .retry(reply: kept)) }
    }

    @Test func aTableBiggerThanASegmentDoesNotRollOnEveryAppend() throws {
        let dir = TemporaryDirectory()
        let (journal, _) = try IngestJournal.open(directory: dir.path, segmentBytes: 1024) { _ in }
        // 100 producers: a table of several KiB, bigger than a segment.
        var writer = ByteWriter()
        var updates: [JournalRecord.ProducerSnapshot] = []
        for i in 0..<100 {
            let items = request(producer: "producer-with-a-longish-name-\(i)", seq: 1, partition: 0, first: UInt64(i), count: 1)
            try JournalRecord.items(items).encode(into: &writer)
            updates.append(.init(producer: items.producer!, seq: 1, reply: items.reply))
        }
        try journal.append(writer.bytes, ends: [0: 100], updates: updates)
        let before = journal.segmentCount
        for i in 0..<20 { try append(journal, [request(partition: 1, first: UInt64(i), count: 1)]) }
        // 20 small records are well under the table's size: at most one more segment.
        #expect(journal.segmentCount <= before + 1)
        var read = 0
        let (_, recovery) = try IngestJournal.open(directory: dir.path, segmentBytes: 1024) { _ in read += 1 }
        #expect(read == 120)
        #expect(recovery.producers.verdict(producer: "producer-with-a-longish-name-0", seq: 1) != .new)
    }

    /// A producer ID of the longest.
    func longestID(_ i: Int) -> String {
        let name = "producer-\(i)-"
        return name + String(repeating: "x", count: BinaryBatch.maxProducerLength - name.utf8.count)
    }

    /// A kept reply of the largest size.
    func largestKeptReply() -> [UInt8] {
        let kept = IngestReply.retainedEncoding(of: reply(accepted: 1, rejected: 50))!
        // Padded to exactly the kept size with spaces, which JSON ignores.
        return kept + [UInt8](repeating: 0x20, count: IngestReply.retainedBytes - kept.count)
    }

    /// The whole table at its byte limit (with the longest IDs and replies) goes in one
    /// record that opens the next segment, well below the reader's limit; reopening restores
    /// every producer in the same order, and every acknowledged item.
    @Test func aTableAtItsLimitSurvivesReopen() throws {
        let dir = TemporaryDirectory()
        let perEntry = ProducerTable.maximumEntrySize
        let fits = ProducerTable.defaultByteLimit / perEntry
        #expect(ProducerTable.defaultByteLimit + 5 + 8 < JournalRecord.maximumPayload)
        let reply = largestKeptReply()
        var expected: [JournalRecord.Request] = []
        var table = ProducerTable()
        var offset: UInt64 = 0
        do {
            // One segment (64 MiB) takes every request of 100 producers more than fit.
            let (journal, _) = try IngestJournal.open(directory: dir.path, segmentBytes: 64 << 20) { _ in }
            for chunk in stride(from: 0, to: fits + 100, by: 1000) {
                var writer = ByteWriter()
                var updates: [JournalRecord.ProducerSnapshot] = []
                for i in chunk..<min(chunk + 1000, fits + 100) {
                    let items = JournalRecord.Request(
                        producer: longestID(i), seq: UInt64(i), reply: reply,
                        runs: [.init(partition: 0, firstOffset: offset, items: [.reading(sensor: 1, temperature: 20)])])
                    offset += 1
                    expected.append(items)
                    try JournalRecord.items(items).encode(into: &writer)
                    updates.append(.init(producer: longestID(i), seq: UInt64(i), reply: reply))
                    table.record(producer: longestID(i), seq: UInt64(i), reply: reply)
                }
                try journal.append(writer.bytes, ends: [0: offset], updates: updates)
            }
            #expect(journal.segmentCount == 1)
        }
        #expect(table.count == fits)
        #expect(table.bytes <= ProducerTable.defaultByteLimit)
        do {
            // Reopened with 1 MiB segments: the next append opens a segment with the table.
            let (journal, recovery) = try IngestJournal.open(directory: dir.path, segmentBytes: 1 << 20) { _ in }
            #expect(recovery.producers.snapshot() == table.snapshot())
            for _ in 0..<5 {
                let items = request(partition: 0, first: offset, count: 3)
                offset += 3
                expected.append(items)
                try append(journal, [items])
            }
            #expect(journal.segmentCount == 2)
        }
        let files = segmentFiles(dir.path)
        let newest = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + files.last!))
        let tableRecord = Int(newest[0]) | Int(newest[1]) << 8 | Int(newest[2]) << 16 | Int(newest[3]) << 24
        #expect(tableRecord <= ProducerTable.defaultByteLimit + 5)
        #expect(tableRecord > ProducerTable.defaultByteLimit - perEntry)

        // The first segment gone (as once checkpoints cover it), the table still knows them all.
        try FileManager.default.removeItem(atPath: dir.path + "/" + files[0])
        var read: [JournalRecord.Request] = []
        let (_, recovery) = try IngestJournal.open(directory: dir.path, segmentBytes: 1 << 20) { read.append($0) }
        #expect(recovery.notes.isEmpty)
        #expect(read == Array(expected.suffix(5)))
        #expect(recovery.producers.snapshot() == table.snapshot())
        let last = fits + 99
        #expect(recovery.producers.verdict(producer: longestID(last), seq: UInt64(last)) == .retry(reply: reply))
        #expect(recovery.producers.verdict(producer: longestID(last), seq: UInt64(last) - 1) == .stale(last: UInt64(last)))
        #expect(recovery.producers.verdict(producer: longestID(0), seq: 0) == .new, "the least recently heard were forgotten")
    }
}

@Suite("Producer table bounds")
struct ProducerTableBoundTests {
    @Test func forgetsExactlyTheLeastRecentlyHeard() {
        var table = ProducerTable(capacity: 3)
        for name in ["a", "b", "c"] { table.record(producer: name, seq: 1, reply: []) }
        table.record(producer: "a", seq: 2, reply: [])
        table.record(producer: "d", seq: 1, reply: [])
        #expect(table.verdict(producer: "b", seq: 1) == .new)
        #expect(table.verdict(producer: "a", seq: 2) == .retry(reply: []))
        #expect(table.verdict(producer: "c", seq: 1) == .retry(reply: []))
        #expect(table.verdict(producer: "d", seq: 1) == .retry(reply: []))
        #expect(table.snapshot().map(\.producer) == ["c", "a", "d"])
    }

    @Test func bytesNeverExceedTheLimit() {
        let limit = ProducerTable.maximumEntrySize * 5
        var table = ProducerTable(byteLimit: limit)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<2000 {
            let name = "p\(i % 37)-" + String(repeating: "n", count: Int.random(in: 0...200, using: &rng))
            let reply = IngestReply(accepted: i, rejected: (0..<Int.random(in: 0...30, using: &rng)).map { Rejection(index: $0, error: String(repeating: "r", count: $0 * 7)) })
            table.record(producer: name, seq: UInt64(i), reply: reply.encode())
            #expect(table.bytes <= limit)
            #expect(table.bytes == table.snapshot().reduce(0) { $0 + $1.encodedSize })
            #expect(table.verdict(producer: name, seq: UInt64(i)) != .new, "the producer just recorded is kept")
        }
        #expect(JournalRecord.producers(table.snapshot()).payloadSize <= limit + 5)
    }

    @Test func withARetentionARecentProducerIsNeverForgotten() {
        var table = ProducerTable(capacity: 2, retention: 100)
        #expect(table.record(producer: "a", seq: 1, reply: [1], now: 0) == .recorded)
        #expect(table.record(producer: "b", seq: 1, reply: [2], now: 10) == .recorded)
        // Full of producers heard within the retention: a new one is not recorded.
        #expect(!table.admits(producer: "c", replyBytes: 1, now: 50))
        #expect(table.record(producer: "c", seq: 1, reply: [3], now: 50) == .full)
        #expect(table.verdict(producer: "c", seq: 1) == .new)
        #expect(table.verdict(producer: "a", seq: 1) == .retry(reply: [1]))
        // Known producers go on.
        #expect(table.admits(producer: "b", replyBytes: 1, now: 50))
        #expect(table.record(producer: "b", seq: 2, reply: [4], now: 50) == .recorded)
        // Once the least recently heard has been silent for the retention, it makes room.
        #expect(table.record(producer: "c", seq: 1, reply: [3], now: 100) == .recorded)
        #expect(table.verdict(producer: "a", seq: 1) == .new)
        #expect(table.verdict(producer: "b", seq: 2) == .retry(reply: [4]))
        #expect(table.verdict(producer: "c", seq: 1) == .retry(reply: [3]))
    }

    @Test func aBiggerEntryNeedsRoomToo() {
        let small = Array(#"{"accepted":1,"rejected":[]}"#.utf8)
        let big = IngestReply(accepted: 1, rejected: (0..<40).map { Rejection(index: $0, error: String(repeating: "z", count: 90)) })
        let keptBig = big.retained(encoded: big.encode())
        let limit = ProducerTable.maximumEntrySize
        let a = String(repeating: "a", count: 256)
        let b = String(repeating: "b", count: 200)
        // a and b fit with small replies, not with b's big one.
        #expect((14 + 256 + small.count) + (14 + 200 + small.count) <= limit)
        #expect((14 + 256 + small.count) + (14 + 200 + keptBig.count) > limit)
        var table = ProducerTable(byteLimit: limit, retention: 1000)
        table.record(producer: a, seq: 1, reply: small, now: 0)
        table.record(producer: b, seq: 1, reply: small, now: 0)
        #expect(table.record(producer: b, seq: 2, reply: keptBig, now: 5) == .full)
        #expect(table.verdict(producer: b, seq: 1) == .retry(reply: small))
        #expect(table.record(producer: b, seq: 2, reply: keptBig, now: 1000) == .recorded)
        #expect(table.verdict(producer: a, seq: 1) == .new)
        #expect(table.verdict(producer: b, seq: 2) == .retry(reply: keptBig))
        #expect(table.bytes <= limit)
    }

    /// The journal's copy (no retention) sees what the coordinator's table recorded, in the
    /// same order, and must hold at least what that table holds.
    @Test func theJournalsCopyHoldsEverythingTheCoordinatorHolds() {
        var coordinator = ProducerTable(capacity: 20, byteLimit: ProducerTable.maximumEntrySize * 3, retention: 50)
        var journal = ProducerTable(capacity: 20, byteLimit: ProducerTable.maximumEntrySize * 3)
        var state: UInt64 = 12345
        func next(_ bound: UInt64) -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (state >> 33) % bound
        }
        var now: UInt64 = 0
        for seq in 0..<5000 {
            now += next(3)
            let name = "p\(next(40))" + String(repeating: "-", count: Int(next(200)))
            let reply = Array("{\"accepted\":\(seq)\(String(repeating: " ", count: Int(next(900))))}".utf8)
            if coordinator.record(producer: name, seq: UInt64(seq), reply: reply, now: now) == .recorded {
                journal.record(producer: name, seq: UInt64(seq), reply: reply)
            }
            for (producer, entry) in coordinator.entries {
                #expect(journal.entries[producer]?.seq == entry.seq && journal.entries[producer]?.reply == entry.reply)
            }
        }
    }
}

