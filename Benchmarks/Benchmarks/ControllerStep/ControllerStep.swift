import Benchmark
import Control
import Fixtures

/// The worker's per-item step: `PartitionState.apply(_:at:)` over one batch of 100,000 items
/// for 10,000 sensors, a setting for each sensor first, then 90,000 readings cycling over them.
/// One iteration applies the whole batch; items per second = throughput x 100,000.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .mallocBytesCount],
        maxDuration: .seconds(3)
    )

    let sensors = Fixtures.sensorIDs(10_000)
    let batch = Fixtures.settings(for: sensors) + Fixtures.readings(90_000, sensors: sensors)
    precondition(batch.count == 100_000)

    /// Applies the batch from the state's next offset on; counts what came out.
    func run(_ state: inout PartitionState) -> (commands: Int, other: Int) {
        var commands = 0
        var other = 0
        var offset = state.nextOffset
        for item in batch {
            switch try! state.apply(item, at: offset) {
            case .step(.command): commands += 1
            default: other += 1
            }
            offset += 1
        }
        return (commands, other)
    }

    // A partition that starts with no sensors: the dictionary grows to 10,000 entries on the way.
    Benchmark("apply 100k items (10k settings, 90k readings), new partition") { benchmark in
        for _ in benchmark.scaledIterations {
            var state = PartitionState(partition: 0)
            blackHole(run(&state))
            blackHole(state)
        }
    }

    // The steady state: the 10,000 sensors are known, the settings overwrite theirs.
    // (One state for all iterations: its offsets go on from one batch to the next.)
    var known = PartitionState(partition: 0)
    _ = run(&known)
    Benchmark("apply 100k items (10k settings, 90k readings), 10k sensors known") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(run(&known))
        }
    }
}
