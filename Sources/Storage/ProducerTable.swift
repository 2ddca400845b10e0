/// What the coordinator remembers of each idempotent producer: the sequence number of its last
/// appended request and the reply it got, so that a retry is answered with the first reply and
/// appends nothing.
///
/// Bounded: past `capacity` producers, the tenth that was heard from least recently is
/// forgotten (a forgotten producer's retry of its last request would be appended again; with
/// the default capacity that takes 100,000 other producers in between).
public struct ProducerTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public var seq: UInt64
        public var reply: [UInt8]
        /// When it was last recorded, in this table's own count.
        var stamp: UInt64
    }

    public static let defaultCapacity = 100_000
    public private(set) var entries: [String: Entry] = [:]
    public let capacity: Int
    private var stamp: UInt64 = 0

    public init(capacity: Int = ProducerTable.defaultCapacity) {
        self.capacity = max(1, capacity)
    }

    public enum Verdict: Sendable, Equatable {
        /// Not seen before: append it.
        case new
        /// The producer's last request again: answer with its first reply.
        case retry(reply: [UInt8])
        /// Older than the producer's last request: refuse it.
        case stale(last: UInt64)
    }

    public func verdict(producer: String, seq: UInt64) -> Verdict {
        guard let entry = entries[producer] else { return .new }
        if seq == entry.seq { return .retry(reply: entry.reply) }
        return seq < entry.seq ? .stale(last: entry.seq) : .new
    }

    public mutating func record(producer: String, seq: UInt64, reply: [UInt8]) {
        stamp += 1
        entries[producer] = Entry(seq: seq, reply: reply, stamp: stamp)
        if entries.count > capacity { evict() }
    }

    private mutating func evict() {
        let keep = capacity - max(1, capacity / 10)
        let cutoff = entries.values.map(\.stamp).sorted(by: >)[keep - 1 < 0 ? 0 : keep - 1]
        entries = entries.filter { $0.value.stamp >= cutoff }
    }
}
