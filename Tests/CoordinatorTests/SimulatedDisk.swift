import CoordinatorCore
import Storage
import Wire

/// What a coordinator's data directory would hold, built from the batches the core handed to
/// the disk and the disk finished: the journal's requests, the command log, each partition's
/// newest checkpoint and the producer table. A restarted core is built from it the way
/// `Recovery` builds one from the files (through ``StoredState``).
struct SimulatedDisk {
    let partitionCount: Int
    private(set) var journal: [JournalRecord.Request] = []
    private(set) var commands: [CommandRecord] = []
    private(set) var checkpoints: [PartitionSnapshot?]
    private(set) var producers = ProducerTable()

    init(partitionCount: Int) {
        self.partitionCount = partitionCount
        checkpoints = Array(repeating: nil, count: partitionCount)
    }

    /// A batch reached the disk, whole (the real writer writes it in order: journal, commands,
    /// checkpoints; a crash in between is a crash before the batch as far as replies go).
    mutating func write(_ batch: CommitBatch) {
        journal.append(contentsOf: batch.journal)
        commands.append(contentsOf: batch.commands)
        for checkpoint in batch.checkpoints { checkpoints[Int(checkpoint.partition)] = checkpoint }
        for update in batch.producerUpdates {
            _ = producers.record(producer: update.producer, seq: update.seq, reply: update.reply)
        }
    }

    /// The state a coordinator starting on this directory recovers.
    func recover() -> StoredState {
        var state = StoredState(checkpoints: checkpoints)
        for request in journal { state.replay(request) }
        var published: [UInt32: UInt64] = [:]
        for command in commands {
            published[command.partition] = max(published[command.partition] ?? 0, command.inputOffset + 1)
        }
        state.finish(published: published, commandEnd: UInt64(commands.count))
        state.producers = producers
        return state
    }
}
