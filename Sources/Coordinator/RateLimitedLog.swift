import Glibc
import Logging
import Synchronization

/// Logs at most one line per key per second, saying how many were suppressed, so that a flood
/// of bad input cannot flood the log.
final class RateLimitedLog: Sendable {
    private struct Entry {
        var last: ContinuousClock.Instant
        var suppressed: Int
    }

    private let entries = Mutex<[String: Entry]>([:])

    func warning(_ logger: Logger, _ key: String, _ message: @autoclosure () -> String) {
        let now = ContinuousClock.now
        let suppressed: Int? = entries.withLock { entries in
            if let entry = entries[key], now - entry.last < .seconds(1) {
                entries[key]!.suppressed += 1
                return nil
            }
            let count = entries[key]?.suppressed ?? 0
            entries[key] = Entry(last: now, suppressed: 0)
            return count
        }
        guard let suppressed else { return }
        let suffix = suppressed > 0 ? " (\(suppressed) similar suppressed)" : ""
        logger.warning("\(message())\(suffix)")
    }
}

/// The wall clock, for numbers that must grow across restarts (incarnations).
enum WallClock {
    static func microsecondsSinceEpoch() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec / 1000)
    }
}
