public import Metrics

/// The histograms observed at their sites, one call each. Created on first use, so after the
/// executable has bootstrapped the metrics system (before it they would go nowhere).
public enum Timings {
    public static let ingestRequest = Timing(MetricName.ingestRequest)
    public static let groupCommit = Timing(MetricName.groupCommit)
    public static let fsync = Timing(MetricName.fsync)
    public static let readingToCommand = Timing(MetricName.readingToCommand)
    public static let handoverPause = Timing(MetricName.handoverPause)
    public static let failoverPause = Timing(MetricName.failoverPause)
    public static let checkpointWrite = Timing(MetricName.checkpointWrite)
    public static let checkpointSize = Recorder(label: MetricName.checkpointSize, aggregate: true)
    public static let workerPoll = Timing(MetricName.workerPoll)
    public static let simulatorSend = Timing(MetricName.simulatorSend)

    /// Counts a moved partition's pause as a handover or a failover.
    public static func pause(nanoseconds: UInt64, failover: Bool) {
        (failover ? failoverPause : handoverPause).record(nanoseconds: Int64(clamping: nanoseconds))
        if !failover { handovers.increment() }
    }

    static let handovers = Counter(label: MetricName.handovers)
}
