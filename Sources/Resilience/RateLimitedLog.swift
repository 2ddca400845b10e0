public import Logging

/// Logs each distinct line (or each key) once when it first comes, and then at most once per
/// `interval` with how often it recurred meanwhile, so that a flood of bad input or a retry loop
/// cannot flood the log. Remembers at most ``capacity`` keys; older ones are forgotten first.
public struct RateLimitedLog: Sendable {
    private struct Entry {
        var lastLogged: ContinuousClock.Instant
        var suppressed: Int
    }

    private var entries: [String: Entry] = [:]
    public let interval: Duration
    public static let capacity = 256

    public init(interval: Duration) { self.interval = interval }

    /// Logs `message` unless a line of the same `key` (default: the message itself) was logged
    /// less than `interval` ago; the message is built only when it is logged.
    public mutating func log(
        _ message: @autoclosure () -> String, key: String? = nil, level: Logger.Level = .warning,
        metadata: Logger.Metadata? = nil, to logger: Logger
    ) {
        let now = ContinuousClock.now
        let text = key == nil ? message() : nil
        let key = key ?? text!
        if let entry = entries[key], now - entry.lastLogged < interval {
            entries[key]!.suppressed += 1
            return
        }
        let suppressed = entries[key]?.suppressed ?? 0
        let suffix = suppressed > 0 ? " (\(suppressed) similar suppressed since the last report)" : ""
        logger.log(level: level, "\(text ?? message())\(suffix)", metadata: metadata)
        if entries.count >= Self.capacity {
            entries = entries.filter { now - $0.value.lastLogged < interval }
            if entries.count >= Self.capacity { entries.removeAll() }
        }
        entries[key] = Entry(lastLogged: now, suppressed: 0)
    }

    /// What was failing works again: says so once, if anything was logged, and starts over.
    public mutating func recovered(_ message: String, to logger: Logger) {
        guard !entries.isEmpty else { return }
        logger.info("\(message)")
        entries.removeAll()
    }
}
