import Benchmark
import Control
import Fixtures
import Storage
import Wire

/// The coordinator's write-ahead step for every accepted request: the journal record
/// (`JournalRecord.items(...).encode(into:)`, which frames the payload with its CRC-32C) and,
/// on its own, the checksum every journal, command log and checkpoint byte goes through.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        maxDuration: .seconds(2)
    )

    // A 1000-item request from an idempotent producer, split into runs per partition the way
    // Coordinator.ingest does (64 partitions, runs in first-touched order), with its reply.
    let items = Fixtures.readings(1000, sensors: Fixtures.sensorIDs(10_000))
    let partitioner = Partitioner(count: 64)
    var runIndex: [Int: Int] = [:]
    var runs: [JournalRecord.Run] = []
    for item in items {
        let partition = partitioner.partition(of: item.sensor)
        if let index = runIndex[partition] {
            runs[index].items.append(item)
        } else {
            runIndex[partition] = runs.count
            runs.append(JournalRecord.Run(partition: UInt32(partition), firstOffset: 1_000_000, items: [item]))
        }
    }
    let reply = IngestReply(accepted: items.count).encode()
    let record = JournalRecord.items(.init(producer: "producer-0001", seq: 42, reply: reply, runs: runs))
    var probe = ByteWriter()
    record.encode(into: &probe)
    let recordSize = probe.count

    // One iteration encodes one request into a new 64 KiB writer, as a new disk batch starts
    // with (DiskBatch.journal); items per second = throughput x 1000.
    Benchmark("journal record encode, 1000-item request (\(runs.count) runs, \(recordSize) bytes)") { benchmark in
        for _ in benchmark.scaledIterations {
            var writer = ByteWriter(capacity: 1 << 16)
            record.encode(into: &writer)
            blackHole(writer)
        }
    }

    // One iteration checksums 64 KiB; bytes per second = throughput x 65,536.
    var rng = Fixtures.Generator(seed: 9)
    let block = (0..<(1 << 16)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    Benchmark("CRC32C.checksum, 64 KiB") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(CRC32C.checksum(block))
        }
    }
}
