import Wire

/// Status reports as the coordinator writes them, built in a line.
enum Fixture {
    static func worker(_ id: String, incarnation: UInt64 = 1, _ partitions: [Int], leaving: Bool = false, heard: UInt64 = 20) -> StatusReport.WorkerStatus {
        StatusReport.WorkerStatus(id: id, incarnation: incarnation, partitions: partitions, leaving: leaving, lastHeardMilliseconds: heard)
    }

    /// `count` partitions, each owned by the worker that lists it (else unassigned), epoch 1
    /// unless `epochs` says otherwise; offsets (head, processed, checkpoint) default to 0.
    static func report(_ workers: [StatusReport.WorkerStatus], partitions count: Int, counters: Counters = Counters(),
                       releasing: Set<Int> = [], offsets: [Int: (head: UInt64, processed: UInt64, checkpoint: UInt64)] = [:],
                       checkpointAges: [Int: UInt64] = [:], epochs: [Int: UInt64] = [:]) -> StatusReport {
        let partitions = (0..<count).map { p in
            let owner = workers.first { $0.partitions.contains(p) }?.id
            let o = offsets[p] ?? (0, 0, 0)
            return StatusReport.PartitionStatus(
                id: p, owner: owner, state: owner == nil ? "unassigned" : releasing.contains(p) ? "releasing" : "owned",
                epoch: epochs[p] ?? 1, head: o.head, processed: o.processed, checkpoint: o.checkpoint, lag: o.head - o.processed,
                checkpointAgeMilliseconds: checkpointAges[p])
        }
        return StatusReport(partitionCount: count, workers: workers, partitions: partitions, counters: counters)
    }

    static func counters(_ set: (inout Counters) -> Void) -> Counters {
        var c = Counters()
        set(&c)
        return c
    }

    static func control(at seconds: Double, sensors: [(UInt64, Double, Bool)], outOfBand: Double = 0.1, outOfBandTime: Double = 0.05) -> ControlReport {
        ControlReport(
            source: "sim", timeMilliseconds: 1_700_000_000_000 + Int64(seconds * 1000), simulatedSeconds: seconds,
            samples: sensors.map { ControlReport.Sample(sensor: $0.0, temperature: $0.1, desired: 21, up: 0.5, down: 0.5, heating: $0.2) },
            sensors: 1000, outOfBand: outOfBand, outOfBandTime: outOfBandTime, heating: 400, meanError: 0.3)
    }
}
