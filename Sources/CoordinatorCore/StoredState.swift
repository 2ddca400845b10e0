public import Storage
public import Wire

/// The coordinator's state as its data directory holds it: each partition's newest intact
/// checkpoint, the journal's items after it, the producer table and where the command log
/// ends. Built by replaying what recovery reads, in order: ``init(checkpoints:)``, then
/// ``replay(_:)`` for every journal record, then ``finish(published:commandEnd:)``. A
/// ``CoordinatorCore`` starts from it.
public struct StoredState: Sendable {
    public private(set) var checkpoints: [PartitionSnapshot?]
    public private(set) var logs: [PartitionLog]
    public var producers = ProducerTable()
    public private(set) var commandEnd: UInt64 = 0
    /// Partitions whose journal skips offsets: where it expected and what it found.
    public private(set) var gaps: [Int: (expected: UInt64, found: UInt64)] = [:]

    public init(checkpoints: [PartitionSnapshot?]) {
        self.checkpoints = checkpoints
        logs = checkpoints.map { checkpoint in
            var log = PartitionLog()
            if let checkpoint { log.reset(to: checkpoint.nextOffset) }
            return log
        }
    }

    /// Applies one journal record: items below a partition's head are covered already.
    public mutating func replay(_ request: JournalRecord.Request) {
        request.forEachRun { span, items in
            let partition = Int(span.partition)
            guard partition < logs.count else { return }
            var offset = span.firstOffset
            for item in items {
                defer { offset += 1 }
                if offset < logs[partition].head { continue }
                if offset > logs[partition].head {
                    if gaps[partition] == nil { gaps[partition] = (logs[partition].head, offset) }
                    logs[partition].reset(to: offset)
                }
                logs[partition].append(item)
            }
        }
    }

    /// The command log's end and, per partition, the input offset below which its commands
    /// were logged: a replay's commands for that input are suppressed. Every item read is durable.
    public mutating func finish(published: [UInt32: UInt64], commandEnd: UInt64) {
        self.commandEnd = commandEnd
        for partition in logs.indices {
            logs[partition].published = max(logs[partition].published, published[UInt32(partition)] ?? 0)
            logs[partition].durable = logs[partition].head
        }
    }
}
