import CoordinatorCore
import Dispatch
import Logging
import Observability
import Storage
import Wire

/// The coordinator's disk: the ingest journal, the command log and the checkpoints, driven on
/// one dedicated thread so that no file call ever blocks Swift's cooperative pool.
///
/// Batches are written strictly in order. Within one, the journal goes first, then the
/// commands. Checkpoints wait (the newest per partition) and are written together at most once
/// per sync interval, after the journal and command log are synced (under `always` and
/// `interval`), so no checkpoint on disk ever covers input or commands that a power loss could
/// take back. They are written and synced on a thread of their own, so a group commit never
/// waits for checkpoint files. A checkpoint that is not on disk yet costs nothing but replay:
/// after a crash the partition starts from the one before it, whose journal is kept until the
/// newer one is on disk.
final class DiskWriter: @unchecked Sendable {
    // Everything below is touched only on `queue`.
    private let queue = DispatchQueue(label: "thermoshard.disk", qos: .userInitiated)
    private let journal: IngestJournal
    private let commandLog: CommandLog
    /// Touched only on `checkpointQueue`.
    private let checkpoints: CheckpointStore
    private let checkpointQueue = DispatchQueue(label: "thermoshard.checkpoints", qos: .utility)
    /// A group of checkpoints is being written on `checkpointQueue`.
    private var checkpointsWriting = false
    /// A failed checkpoint write, raised with the next batch (the coordinator then stops).
    private var checkpointFailure: StorageError?
    private let policy: FsyncPolicy
    private let interval: Duration
    private var lastSync = ContinuousClock.now
    private var unsynced = false
    /// Checkpoints taken and not yet on disk, the newest per partition.
    private var waitingCheckpoints: [UInt32: PartitionSnapshot] = [:]
    private var lastCheckpointWrite = ContinuousClock.now
    /// Journal segments removed by the timer's checkpoint writes, for the next batch's report.
    private var removedSinceReport = 0

    init(journal: IngestJournal, commandLog: CommandLog, checkpoints: CheckpointStore, policy: FsyncPolicy, interval: Duration) {
        self.journal = journal
        self.commandLog = commandLog
        self.checkpoints = checkpoints
        self.policy = policy
        self.interval = interval
    }

    /// Writes a batch, then calls `completion` (on the disk thread).
    func write(_ batch: CommitBatch, completion: @escaping @Sendable (Result<WriteReport, StorageError>) -> Void) {
        queue.async { [self] in
            let start = ContinuousClock.now
            let result = Result { () throws(StorageError) -> WriteReport in try perform(batch) }
            Timings.groupCommit.record(since: start)
            completion(result)
        }
    }

    private func perform(_ batch: CommitBatch) throws(StorageError) -> WriteReport {
        if let checkpointFailure { throw checkpointFailure }
        var stats = WriteReport()
        // Encoded here, off the actor; the core refused every record too large to write.
        var records = ByteWriter(capacity: 1 << 16)
        for request in batch.journal { try JournalRecord.items(request).encode(into: &records) }
        try journal.append(records.finish(), ends: batch.journalEnds, updates: batch.producerUpdates)
        try commandLog.append(batch.commands)
        unsynced = unsynced || !batch.isEmpty
        if policy == .always || (policy == .interval && ContinuousClock.now - lastSync >= interval) {
            try syncLogs()
            stats.synced = true
        }
        for checkpoint in batch.checkpoints { waitingCheckpoints[checkpoint.partition] = checkpoint }
        try writeCheckpointsIfDue(synced: &stats.synced)
        stats.removedSegments = removedSinceReport
        removedSinceReport = 0
        stats.journalSegments = journal.segmentCount
        stats.commandLogStart = commandLog.start
        return stats
    }

    /// Starts writing the waiting checkpoints if the last group is done and an interval ago
    /// (or `force`), after syncing the logs they cover. The journal segments no checkpoint on
    /// disk needs any more are removed once the group is written (counted in
    /// `removedSinceReport` for the next report).
    private func writeCheckpointsIfDue(force: Bool = false, synced: inout Bool) throws(StorageError) {
        guard !waitingCheckpoints.isEmpty, !checkpointsWriting,
              force || ContinuousClock.now - lastCheckpointWrite >= interval else { return }
        if policy != .never, unsynced {
            try syncLogs()
            synced = true
        }
        let ready = waitingCheckpoints.values.sorted { $0.partition < $1.partition }
        waitingCheckpoints.removeAll(keepingCapacity: true)
        checkpointsWriting = true
        let write: @Sendable () -> Void = { [self, sync = policy != .never] in
            do throws(StorageError) {
                let start = ContinuousClock.now
                try checkpoints.write(ready, sync: sync)
                Timings.checkpointWrite.record(since: start)
                for checkpoint in ready { Timings.checkpointSize.record(checkpoint.state.count) }
                let retain = (0..<checkpoints.partitionCount).map { checkpoints.retainFrom(partition: $0) }
                queue.async { [self] in
                    checkpointsWriting = false
                    lastCheckpointWrite = .now
                    do throws(StorageError) {
                        removedSinceReport += try journal.removeSegments { retain[Int($0)] }
                    } catch {
                        checkpointFailure = error
                    }
                }
            } catch {
                queue.async { [self] in
                    checkpointsWriting = false
                    checkpointFailure = error
                }
            }
        }
        if force { checkpointQueue.sync(execute: write) } else { checkpointQueue.async(execute: write) }
    }

    private func syncLogs() throws(StorageError) {
        guard unsynced else { return }
        let start = ContinuousClock.now
        defer { Timings.fsync.record(since: start) }
        try journal.sync()
        try commandLog.sync()
        unsynced = false
        lastSync = .now
    }

    /// Under `interval`, syncs what was written if the interval has passed, and writes the
    /// waiting checkpoints when due (called by a timer, so an idle coordinator's last writes
    /// and checkpoints reach the disk too).
    /// Segments removed meanwhile are reported through `onRemoved` (removed, segments left):
    /// an idle coordinator's counters stay true.
    func syncIfDue(_ onError: @escaping @Sendable (StorageError) -> Void, onRemoved: @escaping @Sendable (Int, Int) -> Void) {
        queue.async { [self] in
            do throws(StorageError) {
                if policy == .interval, unsynced, ContinuousClock.now - lastSync >= interval { try syncLogs() }
                if let checkpointFailure { throw checkpointFailure }
                var synced = false
                try writeCheckpointsIfDue(synced: &synced)
                if removedSinceReport > 0 {
                    onRemoved(removedSinceReport, journal.segmentCount)
                    removedSinceReport = 0
                }
            } catch {
                onError(error)
            }
        }
    }

    /// Reads up to `limit` commands from `offset`, never past `end`.
    func readCommands(from offset: UInt64, limit: Int) async throws(StorageError) -> (records: [CommandRecord], start: UInt64) {
        let result: Result<([CommandRecord], UInt64), StorageError> = await withCheckedContinuation { continuation in
            queue.async { [self] in
                continuation.resume(returning: Result { () throws(StorageError) in
                    (try commandLog.read(from: offset, limit: limit), commandLog.start)
                })
            }
        }
        return try result.get()
    }

    /// Runs blocking work (start-up recovery) on a Dispatch thread, off the cooperative pool.
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Waits for every queued write, then syncs (graceful shutdown), without blocking the
    /// cooperative pool.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                try? syncLogs()
                // The group in flight reaches the disk, then the rest is written at once.
                checkpointQueue.sync {}
                checkpointsWriting = false
                var synced = false
                try? writeCheckpointsIfDue(force: true, synced: &synced)
                continuation.resume()
            }
        }
    }
}
