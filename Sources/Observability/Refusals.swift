import Metrics
import Synchronization
public import Wire

/// Requests refused and items rejected, by reason, and frames that did not decode, by socket:
/// counted where they happen (the coordinator's shell), as metrics and as a tally the
/// dashboard reads.
public enum Refusals {
    private struct State {
        var counters: [String: Counter] = [:]
        var refused: [String: UInt64] = [:]
        var rejected: [String: UInt64] = [:]
        var badFrames: [String: UInt64] = [:]
    }

    private static let state = Mutex(State())

    /// A whole request refused, by its refusal code (docs/protocol.md).
    public static func requestRefused(_ code: RefusalCode?) {
        let reason = code?.rawValue ?? "unknown"
        count(MetricName.requestsRefused, "reason", reason) { $0.refused[reason, default: 0] += 1 }
    }

    /// A request's rejected items, by a coarse reason (the message names the field and value;
    /// the label must not).
    public static func itemsRejected(_ rejections: [Rejection]) {
        guard !rejections.isEmpty else { return }
        var byReason: [String: Int] = [:]
        for rejection in rejections { byReason[reason(rejection.error), default: 0] += 1 }
        for (reason, n) in byReason {
            count(MetricName.itemsRejected, "reason", reason, by: n) { $0.rejected[reason, default: 0] += UInt64(n) }
        }
    }

    /// A frame on `socket` (ingest, cluster, admin) that did not decode.
    public static func badFrame(socket: String) {
        count(MetricName.badFrames, "socket", socket) { $0.badFrames[socket, default: 0] += 1 }
    }

    /// What was counted since the process started.
    public static func snapshot() -> (refused: [String: UInt64], rejected: [String: UInt64], badFrames: [String: UInt64]) {
        state.withLock { ($0.refused, $0.rejected, $0.badFrames) }
    }

    /// missing_field, unknown_field, invalid_value or invalid_item.
    public static func reason(_ message: String) -> String {
        if message.contains("unknown field") { return "unknown_field" }
        if message.contains("missing") || message.contains("needs") { return "missing_field" }
        if message.contains("must be") || message.contains("negative") || message.contains("too large")
            || message.contains("fraction") || message.contains("not a number") || message.contains("finite") {
            return "invalid_value"
        }
        return "invalid_item"
    }

    private static func count(_ label: String, _ dimension: String, _ value: String, by n: Int = 1, _ tally: (inout State) -> Void) {
        let counter = state.withLock { state -> Counter in
            tally(&state)
            let key = label + "\u{0}" + value
            if let counter = state.counters[key] { return counter }
            let counter = Counter(label: label, dimensions: [(dimension, value)])
            state.counters[key] = counter
            return counter
        }
        counter.increment(by: n)
    }
}
