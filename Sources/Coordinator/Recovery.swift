import Control
import CoordinatorCore
import Dispatch
import Logging
import Storage
import Wire

/// What start-up read from the data directory: the state the core starts from, and what to log.
struct RecoveredState: Sendable {
    var stored: StoredState
    var journalSegments: Int
    var notes: [String]
    var errors: [String]
}

enum Recovery {
    /// Opens the logs and checkpoints in `directory` and rebuilds the state (blocking; called
    /// once before the coordinator serves anything). What the records mean is
    /// ``StoredState``'s: this only reads them, in order.
    static func run(
        _ directory: DataDirectory, configuration: CoordinatorConfiguration
    ) throws(StorageError) -> (DiskWriter, RecoveredState) {
        let count = directory.partitionCount
        let store = try CheckpointStore(directory: directory.checkpointsPath, partitionCount: count)
        var checkpoints: [PartitionSnapshot?] = []
        var notes: [String] = []
        var errors: [String] = []
        if store.slotsCreated > 0 { notes.append("made \(store.slotsCreated) empty checkpoint files (two a partition, written over in place from now on)") }
        for partition in 0..<count {
            let (checkpoint, problems) = store.load(partition: partition)
            errors.append(contentsOf: problems)
            checkpoints.append(checkpoint)
        }
        var state = StoredState(checkpoints: checkpoints)
        let (journal, journalRecovery) = try IngestJournal.open(
            directory: directory.journalPath, segmentBytes: configuration.segmentBytes
        ) { request in state.replay(request) }
        for (partition, gap) in state.gaps.sorted(by: { $0.key < $1.key }) {
            errors.append("partition \(partition): the journal jumps from offset \(gap.expected) to \(gap.found); the items between are gone (was the journal edited or a segment removed by hand?)")
        }
        notes.append("journal: \(journalRecovery.records) records in \(journalRecovery.segments) segments, \(journalRecovery.producers.count) producers (\(journalRecovery.producers.bytes) bytes)")
        errors.append(contentsOf: journalRecovery.notes)

        let (commandLog, commandRecovery) = try CommandLog.open(directory: directory.commandsPath, recordsPerSegment: configuration.commandSegmentRecords)
        errors.append(contentsOf: commandRecovery.notes)
        notes.append("command log: \(commandRecovery.end) commands")
        state.finish(published: commandRecovery.published, commandEnd: commandRecovery.end)
        // The coordinator's copy forgets a producer only once it has not been heard for the
        // retention window; the recovered ones count as heard now, at start-up.
        var producers = journalRecovery.producers
        producers.retention = ProducerTable.defaultRetention
        state.producers = producers
        let writer = DiskWriter(
            journal: journal, commandLog: commandLog, checkpoints: store,
            policy: configuration.fsync, interval: configuration.fsyncInterval
        )
        return (writer, RecoveredState(stored: state, journalSegments: journal.segmentCount, notes: notes, errors: errors))
    }
}
