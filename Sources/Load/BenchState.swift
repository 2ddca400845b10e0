import Histogram
import Synchronization

/// What the senders and the feed listener of one run share.
final class BenchShared: Sendable {
    let tracker: Mutex<LatencyTracker>
    let sentinelCommands = Atomic<Int>(0)
    /// Every message the feed delivered.
    let feedMessages = Atomic<Int>(0)
    /// Readings still to claim with --readings.
    let remaining: Atomic<Int>
    private let base = ContinuousClock.now

    init(sensors: Int, readings: Int?) {
        tracker = Mutex(LatencyTracker(sensors: sensors))
        remaining = Atomic(readings ?? 0)
    }

    /// Nanoseconds since this object was made.
    @inline(__always)
    func now() -> Int64 {
        let (seconds, attoseconds) = (ContinuousClock.now - base).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Up to `batch` readings to send now: none once the deadline passed or the readings are
    /// used up.
    func claim(_ batch: Int, deadline: Int64?) -> Int {
        if let deadline { return now() < deadline ? batch : 0 }
        var left = remaining.load(ordering: .relaxed)
        while left > 0 {
            let take = min(batch, left)
            let (exchanged, original) = remaining.compareExchange(expected: left, desired: left - take, ordering: .relaxed)
            if exchanged { return take }
            left = original
        }
        return 0
    }
}

/// What one connection did.
struct LaneResult: Sendable {
    var sent = 0
    var accepted = 0
    var rejected = 0
    var refused = 0
    /// When its last reply came (nanoseconds since the start).
    var finished: Int64 = 0
    /// Request round trips (send to reply), microseconds.
    var requests = LatencyTracker.histogram()
}
