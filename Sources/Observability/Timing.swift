import Foundation
public import Metrics
import Synchronization

/// A duration observed where it happens, with one call: into a swift-metrics `Timer` (a
/// Prometheus histogram in seconds) and into a window of recent quantiles that the dashboard
/// reads once a second (``takeWindow()``).
public final class Timing: Sendable {
    public let timer: Metrics.Timer
    private let window = Mutex(LatencyWindow())

    public init(_ label: String, dimensions: [(String, String)] = []) {
        timer = Metrics.Timer(label: label, dimensions: dimensions)
    }

    public func record(nanoseconds: Int64) {
        timer.recordNanoseconds(nanoseconds)
        window.withLock { $0.add(nanoseconds) }
    }

    public func record(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        record(nanoseconds: elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }

    /// The window since the last call, and a new one begun.
    public func takeWindow() -> LatencyWindow.Summary? {
        window.withLock { window in
            defer { window = LatencyWindow() }
            return window.summary()
        }
    }
}

/// Durations in quarter-octave buckets (about 19% apart), for quantiles without keeping samples.
public struct LatencyWindow: Sendable {
    private var buckets = [UInt32](repeating: 0, count: 200)
    public private(set) var count = 0
    public private(set) var maximum: Int64 = 0

    public init() {}

    public struct Summary: Sendable, Equatable, Codable {
        public var count: Int
        /// Milliseconds.
        public var p50: Double
        public var p99: Double
        public var max: Double
    }

    static func bucket(_ nanoseconds: Int64) -> Int {
        guard nanoseconds > 1 else { return 0 }
        return min(199, Int((log2(Double(nanoseconds)) * 4).rounded(.down)))
    }

    /// The upper bound of a bucket, nanoseconds.
    static func upper(_ bucket: Int) -> Double { pow(2, Double(bucket + 1) / 4) }

    public mutating func add(_ nanoseconds: Int64) {
        buckets[Self.bucket(nanoseconds)] &+= 1
        count += 1
        maximum = max(maximum, nanoseconds)
    }

    public func quantile(_ q: Double) -> Double {
        guard count > 0 else { return 0 }
        let rank = max(1, Int((Double(count) * q).rounded(.up)))
        var seen = 0
        for (index, n) in buckets.enumerated() {
            seen += Int(n)
            if seen >= rank { return min(Self.upper(index), Double(maximum)) / 1e6 }
        }
        return Double(maximum) / 1e6
    }

    public func summary() -> Summary? {
        guard count > 0 else { return nil }
        return Summary(count: count, p50: quantile(0.5), p99: quantile(0.99), max: Double(maximum) / 1e6)
    }
}

