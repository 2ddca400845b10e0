public import Control
public import DequeModule

/// The items of one partition that its owner has not covered with a checkpoint yet.
///
/// Offsets count every item the coordinator accepted for the partition. The log keeps items
/// from the newest checkpoint's offset on, so a new owner can restore the checkpoint and replay
/// the rest; older items are trimmed from the front when a checkpoint covers them (a `Deque`,
/// so a trim costs what it removes, not what stays).
public struct PartitionLog: Sendable {
    /// The offset of `items[0]`.
    public private(set) var base: UInt64 = 0
    public private(set) var items: Deque<Item> = []
    /// Every item below this offset was processed by the current owner (as it reported).
    public var processed: UInt64 = 0
    /// Commands caused by items below this offset were published; a replay's commands for
    /// them are suppressed, so no command is repeated after a failover.
    public var published: UInt64 = 0
    /// Items below this offset are on disk (as the fsync policy defines it); only they are
    /// handed to workers, so no command ever follows from input a crash could take back.
    public var durable: UInt64 = 0
    /// Items below this offset were sent to the current owner (in a reply's batches); a result
    /// may cover no more (``CoordinatorCore`` fences a worker that claims more). Set back to
    /// the checkpoint's offset when the partition is assigned.
    public var delivered: UInt64 = 0

    public init() {}

    public var head: UInt64 { base + UInt64(items.count) }
    public var lag: UInt64 { head - processed }

    public mutating func append(_ item: Item) { items.append(item) }
    public mutating func append(contentsOf run: ArraySlice<Item>) { items.append(contentsOf: run) }

    /// Durable items from `offset` on, at most `limit` of them.
    public func items(from offset: UInt64, limit: Int) -> Deque<Item>.SubSequence {
        let start = Int(max(offset, base) - base)
        let end = Int(min(durable, head) - base)
        guard start < end else { return items[0..<0] }
        return items[start..<min(end, start + limit)]
    }

    /// Drops the items below `offset` (a checkpoint covers them). Returns how many.
    @discardableResult
    public mutating func trim(below offset: UInt64) -> Int {
        guard offset > base else { return 0 }
        let count = Int(min(offset, head) - base)
        items.removeFirst(count)
        base += UInt64(count)
        return count
    }

    /// Starts the log at a checkpoint's offset (a coordinator starting on existing data).
    public mutating func reset(to offset: UInt64) {
        items.removeAll()
        base = offset
        processed = offset
        delivered = offset
        published = max(published, offset)
        durable = offset
    }
}
