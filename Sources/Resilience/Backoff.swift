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

    /// `min(cap, base * 2^failures)`: the longest wait after `failures` failures in a row.
    public func ceiling(afterFailures failures: Int) -> Duration {
        min(cap, base * (1 << min(max(failures, 0), 30)))
    }

    /// The wait before the next attempt; counts a failure.
    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// The same, drawing the jitter from `generator` (deterministic in tests).
    public mutating func next(using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(afterFailures: failures)
        failures += 1
        let nanoseconds = Int64(ceiling.components.seconds) * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: (nanoseconds / 2)...max(nanoseconds / 2, nanoseconds), using: &generator))
    }

    public mutating func reset() { failures = 0 }

    public var failuresInARow: Int { failures }
}
