import Wire

/// How long moved partitions went unprocessed: from the moment a partition stopped being
/// processed (its revocation, or its owner's death being noticed) until its new owner had
/// restored it, processed what waited and polled again. Keeps the latest 4096 for the status
/// summary, and each new pause, as a handover or a failover, until the shell takes it
/// (``CoordinatorCore/takePauses()``, for the metrics' histograms).
struct PauseRecorder: Sendable {
    private var samples: [UInt64] = []
    private var next = 0
    private var count = 0
    static let capacity = 4096
    /// Partitions whose pause began with their owner's death.
    private var failovers: Set<Int> = []
    private(set) var recent: [PauseSample] = []

    mutating func failingOver(_ partition: Int) { failovers.insert(partition) }

    mutating func record(_ nanoseconds: UInt64, partition: Int) {
        let failover = failovers.remove(partition) != nil
        // Bounded even if no shell takes them.
        if recent.count < Self.capacity { recent.append(PauseSample(nanoseconds: nanoseconds, failover: failover, partition: partition)) }
        record(nanoseconds)
    }

    mutating func record(_ nanoseconds: UInt64) {
        count += 1
        if samples.count < Self.capacity {
            samples.append(nanoseconds)
        } else {
            samples[next] = nanoseconds
            next = (next + 1) % Self.capacity
        }
    }

    mutating func takeRecent() -> [PauseSample] {
        defer { recent.removeAll() }
        return recent
    }

    func summary() -> StatusReport.Pauses {
        let sorted = samples.sorted()
        func ms(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))
            return Double(sorted[index] / 1000) / 1000
        }
        return StatusReport.Pauses(count: count, medianMilliseconds: ms(0.5), p99Milliseconds: ms(0.99), maxMilliseconds: ms(1))
    }
}

/// One moved partition's pause: a handover (from a live owner) or a failover (its owner died).
public struct PauseSample: Sendable, Equatable {
    public var nanoseconds: UInt64
    public var failover: Bool
    public var partition: Int
}
