import Control
import Dispatch
import Logging
import Storage
import Wire

/// The coordinator's state as its data directory holds it, read at start-up: each partition's
/// newest intact checkpoint, the journal's items after it, the producer table, and where the
/// command log ends.
struct RecoveredState: Sendable {
    var checkpoints: [StoredCheckpoint?]
    var logs: [PartitionLog]
    var producers: ProducerTable
    var commandEnd: UInt64
    var journalSegments: Int
    var notes: [String]
    var errors: [String]
}

enum Recovery {
    /// Opens the logs and checkpoints in `directory` and rebuilds the state (blocking; called
    /// once before the coordinator serves anything).
    static func run(
        _ directory: DataDirectory, configuration: CoordinatorConfiguration
    ) throws(StorageError) -> (DiskWriter, RecoveredState) {
        let count = directory.partitionCount
        let store = try CheckpointStore(directory: directory.checkpointsPath, partitionCount: count)
        var checkpoints: [StoredCheckpoint?] = []
        var notes: [String] = []
        var errors: [String] = []
        var logs = [PartitionLog]()
        for partition in 0..<count {
            let (checkpoint, problems) = store.load(partition: partition)
            errors.append(contentsOf: problems)
            checkpoints.append(checkpoint)
            var log = PartitionLog()
            if let checkpoint { log.reset(to: checkpoint.nextOffset) }
            logs.append(log)
        }

        var gaps: [Int: (expected: UInt64, found: UInt64)] = [:]
        let (journal, journalRecovery) = try IngestJournal.open(
            directory: directory.journalPath, segmentBytes: configuration.segmentBytes
        ) { request in
            for run in request.runs {
                let partition = Int(run.partition)
                guard partition < count else { continue }
                var offset = run.firstOffset
                for item in run.items {
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
        for (partition, gap) in gaps.sorted(by: { $0.key < $1.key }) {
            errors.append("partition \(partition): the journal jumps from offset \(gap.expected) to \(gap.found); the items between are gone (was the journal edited or a segment removed by hand?)")
        }
        notes.append("journal: \(journalRecovery.records) records in \(journalRecovery.segments) segments, \(journalRecovery.producers.count) producers (\(journalRecovery.producers.bytes) bytes)")
        errors.append(contentsOf: journalRecovery.notes)

        let (commandLog, commandRecovery) = try CommandLog.open(directory: directory.commandsPath, recordsPerSegment: configuration.commandSegmentRecords)
        errors.append(contentsOf: commandRecovery.notes)
        notes.append("command log: \(commandRecovery.end) commands")
        for partition in 0..<count {
            // Commands for input below this were logged before the crash: a replay's are suppressed.
            logs[partition].published = max(logs[partition].published, commandRecovery.published[UInt32(partition)] ?? 0)
            logs[partition].durable = logs[partition].head
        }
        // The coordinator's copy forgets a producer only once it has not been heard for the
        // retention window; the recovered ones count as heard now, at start-up.
        var producers = journalRecovery.producers
        producers.retention = ProducerTable.defaultRetention
        let writer = DiskWriter(
            journal: journal, commandLog: commandLog, checkpoints: store,
            policy: configuration.fsync, interval: configuration.fsyncInterval
        )
        return (writer, RecoveredState(
            checkpoints: checkpoints, logs: logs, producers: producers,
            commandEnd: commandRecovery.end, journalSegments: journal.segmentCount, notes: notes, errors: errors
        ))
    }
}
