import Benchmark
import Control
import Storage
import Wire

/// The per-item work on the data path, one benchmark per hop: decoding a request (JSON and
/// binary), partitioning, the controller step, the journal record and its checksum, the
/// command log record, checkpoint encoding. Throughput is items per second (each benchmark's
/// scaled iterations are items).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )

    // 1,000 readings per kilo-iteration, as one JSON array and as one binary batch.
    var rng = SystemRandomNumberGenerator()
    let readings: [Item] = (0..<1000).map { i in .reading(sensor: UInt64(i * 7919), temperature: Double(Int.random(in: 0...4000, using: &rng)) / 100) }
    let json = Array(("[" + readings.map { item -> String in
        guard case .reading(let sensor, let t) = item else { return "" }
        return #"{"sensor":\#(sensor),"temperature":\#(t)}"#
    }.joined(separator: ",") + "]").utf8)
    var encoder = BinaryBatchEncoder(capacity: 17 * 1000 + 16)
    encoder.append(contentsOf: readings)
    let binary = encoder.finish()

    Benchmark("ingest decode, JSON, 1000 readings a request") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(IngestDecoder.decode(json))
        }
    }

    Benchmark("ingest decode, binary, 1000 readings a request") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(IngestDecoder.decode(binary))
        }
    }

    Benchmark("partitioner, 1000 sensors", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let partitioner = Partitioner(count: 64)
        var sum = 0
        for _ in benchmark.scaledIterations {
            for sensor in 0..<UInt64(1000) { sum &+= partitioner.partition(of: sensor &* 0x9E37_79B9) }
        }
        blackHole(sum)
    }

    Benchmark("controller step, 1000 readings over 10k sensors") { benchmark in
        var state = PartitionState(partition: 0)
        var offset: UInt64 = 0
        for sensor in 0..<UInt64(10_000) {
            _ = try? state.apply(.setting(sensor: sensor, Setting(unchecked: 20, up: 0.5, down: 0.5)), at: offset)
            offset += 1
        }
        let batch: [Item] = (0..<1000).map { i in .reading(sensor: UInt64(i * 10), temperature: i % 2 == 0 ? 30 : 10) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for item in batch {
                blackHole(try? state.apply(item, at: offset))
                offset += 1
            }
        }
    }

    Benchmark("journal record encode + CRC-32C, 1000 items") { benchmark in
        let request = JournalRecord.Request(producer: nil, seq: 0, reply: [], runs: [.init(partition: 3, firstOffset: 0, items: readings)])
        for _ in benchmark.scaledIterations {
            var writer = ByteWriter(capacity: 20_000)
            JournalRecord.items(request).encode(into: &writer)
            blackHole(writer)
        }
    }

    Benchmark("CRC-32C, 64 KiB", configuration: .init(metrics: [.throughput, .wallClock], scalingFactor: .one)) { benchmark in
        let bytes = [UInt8](repeating: 0xA5, count: 1 << 16)
        for _ in benchmark.scaledIterations {
            blackHole(CRC32C.checksum(bytes))
        }
    }

    Benchmark("checkpoint encode, 100k sensors", configuration: .init(metrics: [.throughput, .wallClock, .mallocCountTotal], scalingFactor: .one)) { benchmark in
        var state = PartitionState(partition: 0)
        for sensor in 0..<UInt64(100_000) {
            _ = try? state.apply(.setting(sensor: sensor, Setting(unchecked: 20, up: 0.5, down: 0.5)), at: sensor)
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(CheckpointCodec.encode(state))
        }
    }
}
