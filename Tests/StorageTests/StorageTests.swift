import Control
import Foundation
import Storage
import Testing
import Wire

/// A fresh directory per test, removed afterwards.
struct TemporaryDirectory: ~Copyable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "thermoshard-storage-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func request(producer: String? = nil, seq: UInt64 = 0, partition: UInt32, first: UInt64, count: Int) -> JournalRecord.Request {
    var items: [Item] = []
    for i in 0..<count {
        let sensor = UInt64(i)
        if i % 3 == 0 {
            items.append(.setting(sensor: sensor, Setting(unchecked: 21, up: 0.5, down: 1)))
        } else {
            items.append(.reading(sensor: sensor, temperature: Double(i) / 4))
        }
    }
    return .init(producer: producer, seq: seq, reply: producer == nil ? [] : Array("{\"accepted\":\(count)}".utf8), runs: [.init(partition: partition, firstOffset: first, items: items)])
}

func append(_ journal: IngestJournal, _ requests: [JournalRecord.Request]) throws {
    var writer = ByteWriter()
    var ends: [UInt32: UInt64] = [:]
    var updates: [JournalRecord.ProducerSnapshot] = []
    for request in requests {
        try JournalRecord.items(request).encode(into: &writer)
        for run in request.runs { ends[run.partition] = run.firstOffset + UInt64(run.items.count) }
        if let producer = request.producer { updates.append(.init(producer: producer, seq: request.seq, reply: request.reply)) }
    }
    try journal.append(writer.bytes, ends: ends, updates: updates)
}

func segmentFiles(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
}

@Suite("Ingest journal")
struct IngestJournalTests {
    @Test func recordsRoundTripAcrossReopen() throws {
        let dir = TemporaryDirectory()
        let written = [request(producer: "p", seq: 1, partition: 0, first: 0, count: 5), request(partition: 3, first: 0, count: 2)]
        do {
            let (journal, _) = try IngestJournal.open(directory: dir.path, segmentBytes: 1 << 20) { _ in }
            try append(journal, written)
        }
        var read: [JournalRecord.Request] = []
        let (_, recovery) = try IngestJournal.open(directory: dir.path, segmentBytes: 1 << 20) { read.append($0) }
        #expect(read == written)
        #expect(recovery.notes.isEmpty)
        #expect(recovery.producers.verdict(producer: "p", seq: 1) == .retry(reply: written[0].reply))
    }

    /// A journal of two 4-item records for partition 0; returns its one segment file.
    func twoRecordJournal(_ dir: borrowing TemporaryDirectory) throws -> String {
        let (journal, _) = try IngestJournal.open(directory: dir.path, segmentBytes: 1 << 20) { _ in }
        try append(journal, [request(partition: 0, first: 0, count: 4)])
        try append(journal, [request(partition: 0, first: 4, count: 4)])
        return dir.path + "/" + segmentFiles(dir.path)[0]
    }

    @Test func tornTailIsCutOffAndTheRestKept() throws {
        let dir = TemporaryDirectory()
        let file = try twoRecordJournal(dir)
        let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int
        let handle = FileHandle(forWritingAtPath: file)!
        handle.truncateFile(atOffset: UInt64(size - 7))  // a crash in the middle of the last write
        handle.closeFile()
        var read: [JournalRecord.Request] = []
        let (journal, recovery) = try IngestJournal.open(directory: dir.path, segmentBytes: 1 << 20) { read.append($0) }
        #expect(read.count == 1)
        #expect(recovery.notes.count == 1)
        #expect(recovery.notes[0].contains("cut off"))
        // Appending after recovery continues from the good record.
        try append(journal, [request(partition: 0, first: 4, count: 1)])
        read = []
        _ = try IngestJournal.open(directory: dir.path, segmentBytes: 1 << 20) { read.append($0) }
        #expect(read.map { $0.runs[0].firstOffset } == [0, 4])
    }

    @Test func flippedByteFailsTheChecksum() throws {
        let dir = TemporaryDirectory()
        let file = try twoRecordJournal(dir)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count - 3] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        var read: [JournalRecord.Request] = []
        let (_, recovery) = try IngestJournal.open(directory: dir.path, segmentBytes: 1 << 20) { read.append($0) }
        #expect(read.count == 1)
        #expect(recovery.notes.first?.contains("checksum") == true)
    }

    @Test func segmentsRollAndAreRemovedOnceCoveredKeepingProducers() throws {
        let dir = TemporaryDirectory()
        let (journal, _) = try IngestJournal.open(directory: dir.path, segmentBytes: 200) { _ in }
        try append(journal, [request(producer: "early", seq: 7, partition: 0, first: 0, count: 10)])
        for i in 1..<6 { try append(journal, [request(partition: UInt32(i % 2), first: UInt64(10 * i), count: 10)]) }
        #expect(journal.segmentCount > 3)
        // Nothing is covered yet: nothing goes.
        #expect(try journal.removeSegments { _ in 0 } == 0)
        // Everything below offset 40 of both partitions is covered.
        let removed = try journal.removeSegments { _ in 40 }
        #expect(removed > 0)
        #expect(segmentFiles(dir.path).count == journal.segmentCount)
        var read: [JournalRecord.Request] = []
        let (_, recovery) = try IngestJournal.open(directory: dir.path, segmentBytes: 200) { read.append($0) }
        // The producer whose record went with the removed segments is still known.
        #expect(recovery.producers.verdict(producer: "early", seq: 7) != .new)
        #expect(read.allSatisfy { $0.runs[0].firstOffset >= 30 })
        #expect(read.last?.runs[0].firstOffset == 50)
    }
}

@Suite("Command log")
struct CommandLogTests {
    func records(_ range: Range<UInt64>) -> [CommandRecord] {
        range.map { CommandRecord(offset: $0, sensor: $0 * 7, action: $0 % 2 == 0 ? .on : .off, partition: UInt32($0 % 4), inputOffset: $0 * 3) }
    }

    @Test func readsFromAnyOffsetAcrossSegments() throws {
        let dir = TemporaryDirectory()
        let (log, _) = try CommandLog.open(directory: dir.path, recordsPerSegment: 10)
        try log.append(records(0..<25))
        try log.append(records(25..<31))
        #expect(try log.read(from: 0, limit: 100) == records(0..<31))
        #expect(try log.read(from: 8, limit: 5) == records(8..<13))
        #expect(try log.read(from: 29, limit: 5) == records(29..<31))
        #expect(try log.read(from: 31, limit: 5).isEmpty)
        let (_, recovery) = try CommandLog.open(directory: dir.path, recordsPerSegment: 10)
        #expect(recovery.end == 31)
        // Per partition, the input offset after the last logged command.
        #expect(recovery.published[2] == 30 * 3 + 1)
        #expect(recovery.published[1] == 29 * 3 + 1)
    }

    @Test func tornRecordIsCutOff() throws {
        let dir = TemporaryDirectory()
        do {
            let (log, _) = try CommandLog.open(directory: dir.path)
            try log.append(records(0..<5))
        }
        let file = dir.path + "/" + (try FileManager.default.contentsOfDirectory(atPath: dir.path)).first!
        let handle = FileHandle(forWritingAtPath: file)!
        handle.truncateFile(atOffset: UInt64(CommandLog.recordSize * 4 + 10))
        handle.closeFile()
        let (log, recovery) = try CommandLog.open(directory: dir.path)
        #expect(recovery.end == 4)
        #expect(recovery.notes.count == 1)
        try log.append(records(4..<6))
        #expect(try log.read(from: 0, limit: 10) == records(0..<6))
    }
}

@Suite("Checkpoint store")
struct CheckpointStoreTests {
    func checkpoint(_ offset: UInt64) -> PartitionSnapshot {
        PartitionSnapshot(partition: 1, epoch: 3, nextOffset: offset, state: CheckpointCodec.encode(PartitionState(partition: 1, nextOffset: offset)))
    }

    @Test func keepsTwoGenerationsAndRetainsFromTheOlder() throws {
        let dir = TemporaryDirectory()
        let store = try CheckpointStore(directory: dir.path, partitionCount: 2)
        #expect(store.retainFrom(partition: 1) == 0)
        try store.write(checkpoint(10), sync: false)
        #expect(store.retainFrom(partition: 1) == 0)
        try store.write(checkpoint(20), sync: false)
        #expect(store.retainFrom(partition: 1) == 10)
        let (loaded, notes) = try CheckpointStore(directory: dir.path, partitionCount: 2).load(partition: 1)
        #expect(loaded == checkpoint(20))
        #expect(notes.isEmpty)
    }

    @Test func writesAGroupTogether() throws {
        let dir = TemporaryDirectory()
        let store = try CheckpointStore(directory: dir.path, partitionCount: 3)
        let group = (0..<3).map { p in
            PartitionSnapshot(partition: UInt32(p), epoch: 2, nextOffset: UInt64(10 + p),
                              state: CheckpointCodec.encode(PartitionState(partition: p, nextOffset: UInt64(10 + p))))
        }
        try store.write(group, sync: true)
        try store.write(group.map { PartitionSnapshot(partition: $0.partition, epoch: 2, nextOffset: $0.nextOffset + 5,
                                                      state: CheckpointCodec.encode(PartitionState(partition: Int($0.partition), nextOffset: $0.nextOffset + 5))) },
                        sync: true)
        let reopened = try CheckpointStore(directory: dir.path, partitionCount: 3)
        for p in 0..<3 {
            #expect(reopened.load(partition: p).0?.nextOffset == UInt64(15 + p))
            #expect(reopened.retainFrom(partition: p) == UInt64(10 + p))
        }
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: dir.path)).contains { $0.hasSuffix(".tmp") })
    }

    static func inode(_ path: String) throws -> UInt64 {
        try #require((try FileManager.default.attributesOfItem(atPath: path))[.systemFileNumber] as? UInt64)
    }

    /// Writes partition 1's checkpoints at `offsets` one after another and checks that each
    /// went over the older file in place: the two names swap their files at every write, and
    /// no file is created.
    func expectEachWriteSwapsInPlace(_ store: CheckpointStore, in dir: borrowing TemporaryDirectory, _ offsets: [UInt64]) throws {
        let current = dir.path + "/partition-00001.ckpt", previous = dir.path + "/partition-00001.prev"
        for offset in offsets {
            let (ckptInode, prevInode) = (try Self.inode(current), try Self.inode(previous))
            try store.write(checkpoint(offset), sync: true)
            #expect(try Self.inode(current) == prevInode && Self.inode(previous) == ckptInode)
        }
    }

    /// Puts in partition 1's `.prev` the bytes its checkpoint at `offset` is written as: what a
    /// process that died after writing over `.prev` and before the swap leaves there.
    func plantInPrevious(_ offset: UInt64, in dir: borrowing TemporaryDirectory) throws {
        let other = TemporaryDirectory()
        try CheckpointStore(directory: other.path, partitionCount: 2).write(checkpoint(offset), sync: false)
        try FileManager.default.removeItem(atPath: dir.path + "/partition-00001.prev")
        try FileManager.default.copyItem(atPath: other.path + "/partition-00001.ckpt", toPath: dir.path + "/partition-00001.prev")
    }

    @Test func aThirdCheckpointOverwritesTheOlderFileAndSwapsTheNames() throws {
        let dir = TemporaryDirectory()
        let store = try CheckpointStore(directory: dir.path, partitionCount: 2)
        try store.write(checkpoint(10), sync: true)
        try store.write(checkpoint(20), sync: true)
        // No new file: the older one was written over and the two names swapped.
        try expectEachWriteSwapsInPlace(store, in: dir, [30, 40])
        let reopened = try CheckpointStore(directory: dir.path, partitionCount: 2)
        #expect(reopened.load(partition: 1).0 == checkpoint(40))
        #expect(reopened.retainFrom(partition: 1) == 30)
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: dir.path)).contains { $0.hasSuffix(".tmp") })
    }

    @Test func aNewStoreMakesEmptySlotsAndItsFirstCheckpointsCreateNoFile() throws {
        let dir = TemporaryDirectory()
        let store = try CheckpointStore(directory: dir.path, partitionCount: 2)
        let current = dir.path + "/partition-00001.ckpt", previous = dir.path + "/partition-00001.prev"
        // Both files of each partition are there, empty: no checkpoint, and nothing damaged.
        for path in [current, previous, dir.path + "/partition-00000.ckpt", dir.path + "/partition-00000.prev"] {
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64 == 0)
        }
        let (nothing, quiet) = store.load(partition: 1)
        #expect(nothing == nil && quiet.isEmpty)
        // The first went over the empty `.prev`, and the names were swapped.
        try expectEachWriteSwapsInPlace(store, in: dir, [10, 20])
        let reopened = try CheckpointStore(directory: dir.path, partitionCount: 2)
        let (loaded, notes) = reopened.load(partition: 1)
        #expect(loaded == checkpoint(20) && notes.isEmpty)
        #expect(reopened.retainFrom(partition: 1) == 10)
        #expect(reopened.load(partition: 0).0 == nil)
    }

    @Test func aCrashBeforeTheFirstSwapLeavesTheCheckpointUnderTheOlderName() throws {
        let dir = TemporaryDirectory()
        _ = try CheckpointStore(directory: dir.path, partitionCount: 2)
        // As if the process died after the first checkpoint went over the empty `.prev` and
        // before the swap: `.ckpt` is still the empty slot.
        try plantInPrevious(10, in: dir)
        let reopened = try CheckpointStore(directory: dir.path, partitionCount: 2)
        let (loaded, notes) = reopened.load(partition: 1)
        #expect(loaded == checkpoint(10) && notes.isEmpty)
        // The next goes over the empty `.ckpt`, keeping 10 as the older.
        try reopened.write(checkpoint(20), sync: false)
        let again = try CheckpointStore(directory: dir.path, partitionCount: 2)
        #expect(again.load(partition: 1).0 == checkpoint(20))
        #expect(again.retainFrom(partition: 1) == 10)
    }

    @Test func aCrashBeforeTheSwapLeavesTheNewerUnderTheOlderName() throws {
        let dir = TemporaryDirectory()
        let store = try CheckpointStore(directory: dir.path, partitionCount: 2)
        try store.write(checkpoint(10), sync: false)
        try store.write(checkpoint(20), sync: false)
        try store.write(checkpoint(30), sync: false)
        // As if the process died after overwriting `.prev` with 40 and before the swap: `.ckpt`
        // holds 30, `.prev` 40.
        try plantInPrevious(40, in: dir)
        let reopened = try CheckpointStore(directory: dir.path, partitionCount: 2)
        // The newer one is taken, and the journal is kept from the older one's offset.
        #expect(reopened.load(partition: 1).0 == checkpoint(40))
        #expect(reopened.retainFrom(partition: 1) == 30)
        // The next write goes over the older (`.ckpt`, 30) and leaves 50 and 40.
        try reopened.write(checkpoint(50), sync: false)
        let again = try CheckpointStore(directory: dir.path, partitionCount: 2)
        #expect(again.load(partition: 1).0 == checkpoint(50))
        #expect(again.retainFrom(partition: 1) == 40)
    }

    @Test func damagedNewestFallsBackToTheOlder() throws {
        let dir = TemporaryDirectory()
        let store = try CheckpointStore(directory: dir.path, partitionCount: 2)
        try store.write(checkpoint(10), sync: false)
        try store.write(checkpoint(20), sync: false)
        let file = dir.path + "/partition-00001.ckpt"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[12] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let reopened = try CheckpointStore(directory: dir.path, partitionCount: 2)
        let (loaded, notes) = reopened.load(partition: 1)
        #expect(loaded == checkpoint(10))
        #expect(notes.contains { $0.contains("damaged") })
        // Until a new checkpoint, the journal must be kept from the start.
        #expect(reopened.retainFrom(partition: 1) == 0)
        // The next one goes over the damaged file, never over the intact older one.
        try reopened.write(checkpoint(30), sync: false)
        let again = try CheckpointStore(directory: dir.path, partitionCount: 2)
        #expect(again.load(partition: 1).0 == checkpoint(30))
        #expect(again.retainFrom(partition: 1) == 10)
    }
}

@Suite("Producer table")
struct ProducerTableTests {
    @Test func retriesStaleAndNew() {
        var table = ProducerTable()
        #expect(table.verdict(producer: "a", seq: 5) == .new)
        table.record(producer: "a", seq: 5, reply: [1])
        #expect(table.verdict(producer: "a", seq: 5) == .retry(reply: [1]))
        #expect(table.verdict(producer: "a", seq: 4) == .stale(last: 5))
        #expect(table.verdict(producer: "a", seq: 9) == .new)
        #expect(table.verdict(producer: "b", seq: 5) == .new)
    }

    @Test func boundedForgettingTheLeastRecentlyHeard() {
        var table = ProducerTable(capacity: 100)
        for i in 0..<150 { table.record(producer: "p\(i)", seq: 1, reply: []) }
        #expect(table.entries.count <= 100)
        #expect(table.verdict(producer: "p149", seq: 1) != .new)
        #expect(table.verdict(producer: "p0", seq: 1) == .new)
    }
}

@Suite("CRC-32C")
struct CRC32CTests {
    @Test func knownAnswers() {
        // The standard check value, and RFC 3720's 32 zero bytes.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    @Test func slicedEqualsBytewise() {
        var state: UInt64 = 7
        let bytes = (0..<1000).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 999] {
            var crc: UInt32 = ~0
            for byte in bytes[..<length] {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            #expect(CRC32C.checksum(bytes[..<length]) == ~crc)
            #expect(CRC32C.checksum(Array(bytes[1..<max(1, length)])) == CRC32C.checksum(bytes[1..<max(1, length)]))
            bytes[..<length].withUnsafeBytes { #expect(CRC32C.tableChecksum($0) == ~crc) }
        }
    }

    /// The CPU's instruction (where there is one) and the tables agree at every length,
    /// alignment and seed: the seed chains a CRC over pieces.
    @Test func instructionEqualsTables() {
        var state: UInt64 = 11
        let bytes = (0..<4099).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in [0, 1, 3, 8, 15, 16, 17, 255, 1024, 4090 - start] {
                    let piece = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    #expect(CRC32C.checksum(piece) == CRC32C.tableChecksum(piece), "start \(start), length \(length)")
                    #expect(CRC32C.checksum(piece, seed: 0xDEAD_BEEF) == CRC32C.tableChecksum(piece, seed: 0xDEAD_BEEF))
                }
            }
            let first = UnsafeRawBufferPointer(rebasing: all[..<1000]), rest = UnsafeRawBufferPointer(rebasing: all[1000...])
            #expect(CRC32C.checksum(rest, seed: CRC32C.checksum(first)) == CRC32C.checksum(all))
        }
    }
}
