import Wire

/// What the coordinator remembers of each idempotent producer: the sequence number of its last
/// appended request and the reply kept for it, so that a retry is answered with that reply and
/// appends nothing.
///
/// Bounded, because the whole table opens every journal segment as one record:
///
/// - a kept reply is at most ``IngestReply/retainedBytes`` (1 KiB): the first reply itself when
///   it fits, else its counts with the first rejections (``IngestReply/retained(encoded:maxBytes:)``),
///   so an entry is at most ``maximumEntrySize`` bytes;
/// - at most `capacity` producers (100,000) and `byteLimit` bytes of entries (16 MiB), so the
///   table's record is at most `byteLimit` + 5 bytes of payload, far below the journal's
///   record limit.
///
/// To make room it forgets the least recently heard producers, but with a `retention` only
/// those not heard for that long (10 minutes for the coordinator): a retry within that window
/// is always answered. When every producer was heard more recently, a request that needs room
/// (a new producer, or a bigger entry) is not recorded (``Outcome/full``) and the coordinator
/// refuses it as `too_many_producers` (retryable). A forgotten producer is unknown: its next
/// request, a retry of its last one included, is taken as new.
///
/// Without a retention (the journal's copy, recovery) it always makes room. Both see the same
/// records in the same order and forget oldest first, so that copy holds everything the
/// coordinator's table holds.
public struct ProducerTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public var seq: UInt64
        public var reply: [UInt8]
        /// Recording order: higher is more recent.
        var stamp: UInt64
        /// When it was recorded, on the owner's clock (nanoseconds).
        var heard: UInt64
        /// Its size in the journal's producers record.
        var size: Int
    }

    public static let defaultCapacity = 100_000
    public static let defaultByteLimit = 16 << 20
    /// Ten minutes, in nanoseconds.
    public static let defaultRetention: UInt64 = 600 * 1_000_000_000
    /// The most one entry takes in the journal's producers record: the longest producer ID,
    /// seq, the longest kept reply (1,294 bytes).
    public static let maximumEntrySize = 2 + BinaryBatch.maxProducerLength + 8 + 4 + IngestReply.retainedBytes

    public private(set) var entries: [String: Entry] = [:]
    public let capacity: Int
    public let byteLimit: Int
    /// A producer heard more recently than this (nanoseconds) is never forgotten; nil: the
    /// least recently heard is forgotten whenever room is needed.
    public var retention: UInt64?
    /// The entries' size in the journal's producers record, together.
    public private(set) var bytes = 0
    private var stamp: UInt64 = 0
    /// Producers in recording order from `orderStart`; a pair whose stamp is not its
    /// producer's current one is stale and skipped.
    private var order: [(stamp: UInt64, producer: String)] = []
    private var orderStart = 0

    public init(capacity: Int = ProducerTable.defaultCapacity, byteLimit: Int = ProducerTable.defaultByteLimit, retention: UInt64? = nil) {
        self.capacity = max(1, capacity)
        self.byteLimit = max(ProducerTable.maximumEntrySize, byteLimit)
        self.retention = retention
    }

    public var count: Int { entries.count }

    public enum Verdict: Sendable, Equatable {
        /// Not seen before: append it.
        case new
        /// The producer's last request again: answer with its kept reply.
        case retry(reply: [UInt8])
        /// Older than the producer's last request: refuse it.
        case stale(last: UInt64)
    }

    public func verdict(producer: String, seq: UInt64) -> Verdict {
        guard let entry = entries[producer] else { return .new }
        if seq == entry.seq { return .retry(reply: entry.reply) }
        return seq < entry.seq ? .stale(last: entry.seq) : .new
    }

    public enum Outcome: Sendable, Equatable {
        case recorded
        /// No room without forgetting a producer heard within the retention: nothing changed.
        case full
    }

    /// Whether ``record(producer:seq:reply:now:)`` with a kept reply of `replyBytes` bytes
    /// would find room, changing nothing.
    public func admits(producer: String, replyBytes: Int, now: UInt64) -> Bool {
        room(for: producer, size: Self.entrySize(producer, replyBytes), now: now) != nil
    }

    /// Records `producer`'s request `seq` with the reply to keep for its retry (cut to a kept
    /// reply if longer than ``IngestReply/retainedBytes``), forgetting the least recently
    /// heard producers if room is needed and allowed.
    @discardableResult
    public mutating func record(producer: String, seq: UInt64, reply: [UInt8], now: UInt64 = 0) -> Outcome {
        guard let kept = IngestReply.retainedEncoding(of: reply) else {
            // Not a reply at all (never written by a coordinator): nothing to answer a retry with.
            forget(producer)
            return .recorded
        }
        let size = Self.entrySize(producer, kept.count)
        guard let evicted = room(for: producer, size: size, now: now) else { return .full }
        for name in evicted { forget(name) }
        stamp += 1
        bytes += size - (entries[producer]?.size ?? 0)
        entries[producer] = Entry(seq: seq, reply: kept, stamp: stamp, heard: now, size: size)
        order.append((stamp, producer))
        compact()
        return .recorded
    }

    /// The table as the journal writes it: every entry, least recently heard first (so that
    /// reading it back in order restores the order).
    public func snapshot() -> [JournalRecord.ProducerSnapshot] {
        var out: [JournalRecord.ProducerSnapshot] = []
        out.reserveCapacity(entries.count)
        for (stamp, producer) in order[orderStart...] {
            guard let entry = entries[producer], entry.stamp == stamp else { continue }
            out.append(.init(producer: producer, seq: entry.seq, reply: entry.reply))
        }
        return out
    }

    static func entrySize(_ producer: String, _ replyBytes: Int) -> Int {
        JournalRecord.ProducerSnapshot(producer: producer, seq: 0, reply: []).encodedSize + replyBytes
    }

    /// The producers to forget, oldest first, so that an entry of `size` bytes for `producer`
    /// fits; nil if that needs forgetting one heard within the retention.
    private func room(for producer: String, size: Int, now: UInt64) -> [String]? {
        guard size <= byteLimit else { return nil }
        let existing = entries[producer]
        var count = entries.count + (existing == nil ? 1 : 0)
        var total = bytes - (existing?.size ?? 0) + size
        var evicted: [String] = []
        var index = orderStart
        while count > capacity || total > byteLimit {
            guard index < order.count else { return nil }
            let (stamp, name) = order[index]
            index += 1
            guard name != producer, let entry = entries[name], entry.stamp == stamp else { continue }
            if let retention, entry.heard > now || now - entry.heard < retention { return nil }
            evicted.append(name)
            count -= 1
            total -= entry.size
        }
        return evicted
    }

    private mutating func forget(_ producer: String) {
        guard let entry = entries.removeValue(forKey: producer) else { return }
        bytes -= entry.size
    }

    /// Drops stale pairs from the front of `order`, and rebuilds it when mostly stale.
    private mutating func compact() {
        while orderStart < order.count, entries[order[orderStart].producer]?.stamp != order[orderStart].stamp {
            orderStart += 1
        }
        if order.count - orderStart > 2 * entries.count + 1024 {
            order = entries.map { ($0.value.stamp, $0.key) }.sorted { $0.stamp < $1.stamp }
            orderStart = 0
        } else if orderStart > 1024, orderStart * 2 > order.count {
            order.removeFirst(orderStart)
            orderStart = 0
        }
    }
}
