import Wire

/// How long moved partitions went unprocessed: from the moment a partition stopped being
/// processed (its revocation, or its owner's death being noticed) until its new owner had
/// restored it, processed what waited and polled again. Keeps the latest 4096.
struct PauseRecorder: Sendable {
    private var samples: [UInt64] = []
    private var next = 0
    private var count = 0
    static let capacity = 4096

    mutating func record(_ nanoseconds: UInt64) {
        count += 1
        if samples.count < Self.capacity {
            samples.append(nanoseconds)
        } else {
            samples[next] = nanoseconds
            next = (next + 1) % Self.capacity
        }
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
