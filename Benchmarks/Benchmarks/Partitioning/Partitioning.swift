import Benchmark
import Control
import Fixtures

/// Which partition a sensor's items go to, for every accepted item (`Coordinator.ingest`):
/// `Partitioner(count: 64).partition(of:)`, i.e. SplitMix64 then `% 64` taken at run time.
/// One iteration partitions 1M sensor IDs; items per second = throughput x 1,000,000.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        maxDuration: .seconds(2)
    )

    let ids = Fixtures.sensorIDs(1_000_000, seed: 7)
    // The count arrives at run time (configuration), so the modulo is a real division, as in
    // the coordinator: keep the optimizer from folding `% 64` into a mask.
    let count = identity(64)

    Benchmark("partition(of:), 64 partitions, 1M sensor ids") { benchmark in
        let partitioner = Partitioner(count: count)
        var perPartition = [Int](repeating: 0, count: count)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for id in ids { perPartition[partitioner.partition(of: id)] &+= 1 }
        }
        benchmark.stopMeasurement()
        blackHole(perPartition)
    }
}
