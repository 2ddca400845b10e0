import Control
import Storage
import Testing
import Wire

/// One item layout (``ItemCodec``) wherever items are stored or sent: the binary ingest batch,
/// the ingest journal and the cluster frames write the same bytes for the same item.
@Suite("Item layout")
struct ItemLayoutTests {
    static let items: [Item] = [
        .reading(sensor: 0x0102_0304_0506_0708, temperature: -12.25),
        .setting(sensor: 17, Setting(unchecked: 21, up: 0.5, down: 1.5)),
    ]

    /// Known answer: kind, sensor, values, little-endian.
    static func documented(_ item: Item) -> [UInt8] {
        func le(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        switch item {
        case .reading(let sensor, let temperature):
            return [0] + le(sensor) + le(temperature.bitPattern)
        case .setting(let sensor, let setting):
            return [1] + le(sensor) + le(setting.desired.bitPattern) + le(setting.up.bitPattern) + le(setting.down.bitPattern)
        }
    }

    @Test(arguments: items) func everyPathWritesTheSameBytes(item: Item) throws {
        let expected = Self.documented(item)
        var codec = ByteWriter()
        ItemCodec.write(item, into: &codec)
        #expect(codec.bytes == expected)
        #expect(ItemCodec.size(of: item) == expected.count)

        // Binary batch: the 9-byte header, then the record.
        var batch = BinaryBatchEncoder()
        batch.append(item)
        let batchBytes = batch.finish()
        #expect(Array(batchBytes.dropFirst(BinaryBatch.headerSize)) == expected)
        #expect(try IngestDecoder.decode(batchBytes).get().items == [item])

        // Journal: the item is the last thing in an items record of one run.
        var journal = ByteWriter()
        let run = JournalRecord.Run(partition: 1, firstOffset: 2, items: [item])
        try JournalRecord.items(.init(producer: nil, seq: 0, reply: [], runs: [run])).encode(into: &journal)
        #expect(Array(journal.bytes.suffix(expected.count)) == expected)

        // Cluster frame: a work reply of one batch; the item comes before the revoke count (u32)
        // and goodbye (u8).
        let reply = ClusterReply.work(Work(batches: [Batch(partition: 1, epoch: 3, firstOffset: 2, items: [item])]))
        let frame = reply.encode()
        #expect(Array(frame.dropLast(5).suffix(expected.count)) == expected)
        #expect(try ClusterReply.decode(frame) == reply)
    }

    @Test func readingFieldsReportsWhatIsMissing() {
        func fields(_ bytes: [UInt8]) -> Result<ItemCodec.Fields, ItemCodec.ReadError> {
            var reader = ByteReader(bytes)
            return Result { () throws(ItemCodec.ReadError) in try ItemCodec.readFields(&reader) }
        }
        let reading = Self.documented(Self.items[0])
        #expect(fields(reading) == .success(.reading(sensor: 0x0102_0304_0506_0708, temperature: -12.25)))
        #expect(fields(Array(reading.prefix(8))) == .failure(.truncatedHeader))
        #expect(fields(Array(reading.prefix(16))) == .failure(.truncatedValues(kind: 0)))
        #expect(fields([7] + reading.dropFirst()) == .failure(.unknownKind(7)))
        let setting = Self.documented(Self.items[1])
        #expect(fields(setting) == .success(.setting(sensor: 17, desired: 21, up: 0.5, down: 1.5)))
        #expect(fields(Array(setting.prefix(32))) == .failure(.truncatedValues(kind: 1)))
    }
}
