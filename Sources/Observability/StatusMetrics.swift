import Metrics
public import Wire

/// The coordinator's status report as metrics: its counters as Prometheus counters (each
/// moved on by what it grew since the last report), its members, partitions, lag and
/// checkpoints as gauges. Reading the report the core already keeps costs the data path nothing
/// but the status call itself; the exporter runs once a second and on every scrape.
///
/// The two per-partition families (lag in items and in seconds) are kept here and rendered by
/// ``partitionFamilies()``, not registered as swift-prometheus gauges: the registry copies a
/// family's table for each series it adds, so 2 x 4,096 gauges cost it a quadratic
/// 0.7 s of CPU in the coordinator's first seconds (12 % of a 6 s profile at P=4096), and
/// every scrape would walk 8,192 locked gauges that the report already holds as two arrays.
public final class StatusMetrics {
    private var last = Counters()
    private var counters: [String: Counter] = [:]
    private var gauges: [String: Gauge] = [:]
    private var workerGauges: [String: Gauge] = [:]
    /// Per partition, from the last report.
    private var lagItems: [UInt64] = []
    private var lagSeconds: [Double] = []

    public init() {}

    private func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
        let key = label + dimensions.map { "\u{0}\($0.0)=\($0.1)" }.joined()
        if let counter = counters[key] { return counter }
        let counter = Counter(label: label, dimensions: dimensions)
        counters[key] = counter
        return counter
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Gauge {
        let key = label + dimensions.map { "\u{0}\($0.0)=\($0.1)" }.joined()
        if let gauge = gauges[key] { return gauge }
        let gauge = Gauge(label: label, dimensions: dimensions)
        gauges[key] = gauge
        return gauge
    }

    /// Moves the metrics to `report`. `lagAges` (seconds per partition) come from
    /// ``ClusterObserver``; `journalBytes` from the data directory.
    public func export(_ report: StatusReport, lagAges: [Double], journalBytes: Int?, ready: Bool) {
        let now = report.counters
        func advance(_ label: String, _ value: KeyPath<Counters, UInt64>, _ dimensions: [(String, String)] = []) {
            let delta = now[keyPath: value] &- last[keyPath: value]
            // A counter that went down means another process (a restart behind a proxy): start over.
            if now[keyPath: value] >= last[keyPath: value], delta > 0 { counter(label, dimensions).increment(by: delta) }
        }
        advance(MetricName.itemsAccepted, \.accepted)
        advance(MetricName.itemsProcessed, \.processed)
        advance(MetricName.itemsReplayed, \.replayed)
        advance(MetricName.commands, \.commands)
        advance(MetricName.duplicateCommandsSuppressed, \.duplicateCommandsSuppressed)
        advance(MetricName.duplicateRequests, \.duplicateRequests)
        advance(MetricName.droppedNoSetting, \.droppedNoSetting)
        advance(MetricName.fenced, \.fenced)
        advance(MetricName.failovers, \.workersLost)
        advance(MetricName.partitionMoves, \.partitionMoves)
        advance(MetricName.badFrames, \.malformedFrames, [("socket", "cluster")])
        advance(MetricName.checkpoints, \.checkpoints)
        advance(MetricName.badCheckpoints, \.badCheckpoints)
        advance(MetricName.fsyncs, \.fsyncs)
        last = now

        let active = report.workers.filter { !$0.leaving }.count
        gauge(MetricName.members, [("state", "active")]).record(active)
        gauge(MetricName.members, [("state", "leaving")]).record(report.workers.count - active)
        var phases = ["owned": 0, "releasing": 0, "unassigned": 0]
        for partition in report.partitions { phases[partition.state, default: 0] += 1 }
        for (state, n) in phases { gauge(MetricName.partitions, [("state", state)]).record(n) }

        var seen = Set<String>()
        for worker in report.workers {
            seen.insert(worker.id)
            let gauge = workerGauges[worker.id] ?? Gauge(label: MetricName.partitionsPerWorker, dimensions: [("worker", worker.id)])
            workerGauges[worker.id] = gauge
            gauge.record(worker.partitions.count)
        }
        for (id, gauge) in workerGauges where !seen.contains(id) {
            gauge.destroy()
            workerGauges[id] = nil
        }

        lagItems = Array(repeating: 0, count: report.partitions.count)
        lagSeconds = Array(repeating: 0, count: report.partitions.count)
        for partition in report.partitions where partition.id < lagItems.count {
            lagItems[partition.id] = partition.lag
            lagSeconds[partition.id] = partition.id < lagAges.count ? lagAges[partition.id] : 0
        }
        let buffered = report.partitions.reduce(UInt64(0)) { $0 + ($1.head - $1.checkpoint) }
        gauge(MetricName.bufferedItems).record(Int64(clamping: buffered))
        if let journalBytes { gauge(MetricName.journalBytes).record(journalBytes) }
        gauge(MetricName.journalSegments).record(Int64(clamping: now.journalSegments))
        let oldest = report.partitions.compactMap(\.checkpointAgeMilliseconds).max() ?? 0
        gauge(MetricName.checkpointAgeSeconds).record(Double(oldest) / 1000)
        gauge(MetricName.commandLogEnd).record(Int64(clamping: now.commandLogEnd))
        gauge(MetricName.ready).record(ready ? 1 : 0)
    }

    /// The per-partition gauges of the last report, in the Prometheus text format (as the
    /// registry writes gauges: a `# TYPE` line, then `name{partition="N"} value` per partition),
    /// to follow the registry's own text in `/metrics`.
    public func partitionFamilies() -> String {
        guard !lagItems.isEmpty else { return "" }
        var text = ""
        text.reserveCapacity(lagItems.count * 96)
        func family(_ name: String, _ value: (Int) -> Double) {
            text += "# TYPE \(name) gauge\n"
            for partition in lagItems.indices {
                text += "\(name){partition=\"\(partition)\"} \(value(partition))\n"
            }
        }
        family(MetricName.partitionLagItems) { Double(lagItems[$0]) }
        family(MetricName.partitionLagSeconds) { lagSeconds[$0] }
        return text
    }
}
