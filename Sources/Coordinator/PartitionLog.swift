import Control

/// The items of one partition that its owner has not covered with a checkpoint yet.
///
/// Offsets count every item the coordinator accepted for the partition. The log keeps items
/// from the newest checkpoint's offset on, so a new owner can restore the checkpoint and replay
/// the rest; older items are trimmed when a checkpoint covers them.
struct PartitionLog {
    /// The offset of `items[0]`.
    private(set) var base: UInt64 = 0
    private(set) var items: [Item] = []
    /// Every item below this offset was processed by the current owner (as it reported).
    var processed: UInt64 = 0
    /// Commands caused by items below this offset were published; a replay's commands for
    /// them are suppressed, so no command is repeated after a failover.
    var published: UInt64 = 0
    /// Items below this offset are on disk (as the fsync policy defines it); only they are
    /// handed to workers, so no command ever follows from input a crash could take back.
    var durable: UInt64 = 0

    var head: UInt64 { base + UInt64(items.count) }
    var lag: UInt64 { head - processed }

    mutating func append(_ item: Item) { items.append(item) }

    /// Durable items from `offset` on, at most `limit` of them.
    func items(from offset: UInt64, limit: Int) -> ArraySlice<Item> {
        let start = Int(max(offset, base) - base)
        let end = Int(min(durable, head) - base)
        guard start < end else { return [] }
        return items[start..<min(end, start + limit)]
    }

    /// Drops the items below `offset` (a checkpoint covers them). Returns how many.
    @discardableResult
    mutating func trim(below offset: UInt64) -> Int {
        guard offset > base else { return 0 }
        let count = Int(min(offset, head) - base)
        items.removeFirst(count)
        base += UInt64(count)
        return count
    }

    /// Starts the log at a checkpoint's offset (a coordinator starting on existing data).
    mutating func reset(to offset: UInt64) {
        items.removeAll()
        base = offset
        processed = offset
        published = max(published, offset)
        durable = offset
    }
}
