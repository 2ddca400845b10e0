import Control
import Foundation
import Storage
import Testing
import Wire

/// The journal's size limits: no record the reader would reject is ever written, and a big
/// producer table does not make every append roll a segment.
@Suite("Journal limits")
struct JournalLimitTests {
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
}
