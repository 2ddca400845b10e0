public import Logging

/// Capped exponential backoff with jitter: after the n-th failure in a row, wait a random time
/// between half of and all of `min(cap, base * 2^n)`. A success starts over.
public struct Backoff: Sendable {
    public let base: Duration
    public let cap: Duration
    private var failures = 0

    public init(base: Duration = .milliseconds(50), cap: Duration = .seconds(2)) {
        self.base = base
        self.cap = cap
    }

    /// The wait before the next attempt; counts a failure.
    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// The same, drawing the jitter from `generator` (deterministic in tests).
    public mutating func next(using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = min(cap, base * (1 << min(failures, 30)))
        failures += 1
        let nanoseconds = Int64(ceiling.components.seconds) * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: (nanoseconds / 2)...max(nanoseconds / 2, nanoseconds), using: &generator))
    }

    public mutating func reset() { failures = 0 }

    public var failuresInARow: Int { failures }
}

/// Logs each distinct error once when it first appears, and then at most once per `interval`
/// with how often it recurred, so that a retry loop never floods the log.
public struct RepeatedErrorLog: Sendable {
    private struct Entry {
        var lastLogged: ContinuousClock.Instant
        var repeats: Int
    }

    private var entries: [String: Entry] = [:]
    public let interval: Duration
    /// Distinct messages remembered at once (older ones are forgotten first).
    static let capacity = 256

    public init(interval: Duration = .seconds(10)) { self.interval = interval }

    public mutating func report(_ message: String, to logger: Logger, level: Logger.Level = .warning) {
        let now = ContinuousClock.now
        if let entry = entries[message], now - entry.lastLogged < interval {
            entries[message]!.repeats += 1
            return
        }
        let repeats = entries[message]?.repeats ?? 0
        logger.log(level: level, "\(message)\(repeats > 0 ? " (\(repeats + 1) times since the last report)" : "")")
        if entries.count >= Self.capacity {
            entries = entries.filter { now - $0.value.lastLogged < interval }
            if entries.count >= Self.capacity { entries.removeAll() }
        }
        entries[message] = Entry(lastLogged: now, repeats: 0)
    }

    /// The errors are over: says so once, if any was reported.
    public mutating func recovered(_ message: String, to logger: Logger) {
        guard !entries.isEmpty else { return }
        logger.info("\(message)")
        entries.removeAll()
    }
}
