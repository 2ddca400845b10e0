public import Control
public import Histogram

/// Matches commands from the feed to sampled readings, per sensor (flat arrays indexed by
/// sensor ID), and keeps the latency histogram. Guarded by a mutex in a run: the senders mark
/// samples, the feed listener matches them.
///
/// Readings alternate each sensor's heater (``Lane``), so the k-th command for a sensor,
/// counting from its first "on", answers its k-th reading; a command whose action is not the
/// one expected shows that an odd number before it were lost, and the count moves on by one.
public struct LatencyTracker: ~Copyable {
    static let none = -1
    /// Latencies above an hour are recorded as an hour.
    public static let highest: UInt64 = 3_600_000_000

    /// A histogram of microseconds up to ``highest``, to three significant digits.
    public static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: highest, numberOfSignificantValueDigits: .three)
    }

    /// The sampled reading in flight per sensor (`none`: none), and when its request was sent
    /// (nanoseconds since the start of the run).
    private var pending: [Int]
    private var pendingSince: [Int64]
    /// Measured commands received per sensor, and whether its first measured one ("on") came.
    private var received: [Int]
    private var started: [Bool]
    /// Reading sent to its command received, microseconds.
    public private(set) var histogram = LatencyTracker.histogram()
    /// Measured commands received, in all.
    public private(set) var commands = 0
    /// Commands whose action showed that one before it was lost (the count moved on by one).
    public private(set) var resynchronized = 0
    /// Commands missing from the feed, by gaps in the command log offsets it carries.
    public private(set) var feedGaps: UInt64 = 0
    private var nextOffset: UInt64?
    /// When the latest measured command came (nanoseconds since the start of the run).
    public private(set) var lastCommandAt: Int64 = 0

    /// Tracks sensors 1...`sensors`.
    public init(sensors: Int) {
        pending = Array(repeating: Self.none, count: sensors + 1)
        pendingSince = Array(repeating: 0, count: sensors + 1)
        received = Array(repeating: 0, count: sensors + 1)
        started = Array(repeating: false, count: sensors + 1)
    }

    /// A request with reading `reading` of `sensor` goes out at `time`: sample it unless one is
    /// in flight (a retry of the same request restamps its sample).
    @inline(__always)
    public mutating func mark(sensor: Int, reading: Int, at time: Int64) {
        let current = pending[sensor]
        if current == Self.none || current == reading {
            pending[sensor] = reading
            pendingSince[sensor] = time
        }
    }

    /// Any command on the feed, for loss accounting.
    public mutating func observe(offset: UInt64?) {
        guard let offset else { return }
        if let expected = nextOffset, offset > expected { feedGaps += offset - expected }
        nextOffset = max(nextOffset ?? 0, offset + 1)
    }

    /// A command for one of the tracked sensors, received at `time`.
    public mutating func command(sensor: Int, action: HeaterAction, at time: Int64) {
        if !started[sensor] {
            // Commands before the first "on" answer the priming reading (or an earlier run).
            guard action == .on else { return }
            started[sensor] = true
        }
        var index = received[sensor]
        if action != Lane.action(reading: index) {
            // An odd number of this sensor's commands were lost: skip one to match again.
            index += 1
            resynchronized += 1
        }
        received[sensor] = index + 1
        commands += 1
        lastCommandAt = time
        let sampled = pending[sensor]
        if sampled != Self.none, sampled <= index {
            if sampled == index {
                let microseconds = UInt64(max(0, time - pendingSince[sensor]) / 1000)
                histogram.record(min(microseconds, Self.highest))
            }
            pending[sensor] = Self.none
        }
    }
}
