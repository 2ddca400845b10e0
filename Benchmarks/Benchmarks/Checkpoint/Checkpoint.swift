import Benchmark
import Control
import Fixtures
import Wire

/// A partition's keyed state to checkpoint bytes and back (`CheckpointCodec`): the worker
/// encodes on every checkpoint round, the coordinator stores the bytes, a new owner decodes
/// them on handoff or recovery. 100,000 sensors, 33 bytes each (3.3 MB); one iteration is one
/// encode or decode; sensors per second = throughput x 100,000.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .mallocBytesCount],
        maxDuration: .seconds(3)
    )

    let state = Fixtures.partitionState(sensors: 100_000, partition: 5)
    let bytes = CheckpointCodec.encode(state)
    guard (try? CheckpointCodec.decode(bytes)) == state else { fatalError("the checkpoint does not round-trip") }

    Benchmark("encode, 100k sensors") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(CheckpointCodec.encode(state))
        }
    }

    Benchmark("decode, 100k sensors") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! CheckpointCodec.decode(bytes))
        }
    }
}
