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
/// commands, then the checkpoints; and a checkpoint is written only after the journal and
/// command log are synced (under `always` and `interval`), so no checkpoint on disk ever covers
/// input or commands that a power loss could take back.
final class DiskWriter: @unchecked Sendable {
    // Everything below is touched only on `queue`.
    private let queue = DispatchQueue(label: "thermoshard.disk", qos: .userInitiated)
    private let journal: IngestJournal
    private let commandLog: CommandLog
    private let checkpoints: CheckpointStore
    private let policy: FsyncPolicy
    private let interval: Duration
    private var lastSync = ContinuousClock.now
    private var unsynced = false

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
        var stats = WriteReport()
        // Encoded here, off the actor; the core refused every record too large to write.
        var records = ByteWriter(capacity: 1 << 16)
        for request in batch.journal { try JournalRecord.items(request).encode(into: &records) }
        try journal.append(records.bytes, ends: batch.journalEnds, updates: batch.producerUpdates)
        try commandLog.append(batch.commands)
        unsynced = unsynced || !batch.isEmpty
        let due = policy == .interval && ContinuousClock.now - lastSync >= interval
        if policy == .always || (policy == .interval && !batch.checkpoints.isEmpty) || due {
            try syncLogs()
            stats.synced = true
        }
        for checkpoint in batch.checkpoints {
            let start = ContinuousClock.now
            try checkpoints.write(checkpoint, sync: policy != .never)
            Timings.checkpointWrite.record(since: start)
            Timings.checkpointSize.record(checkpoint.state.count)
        }
        if !batch.checkpoints.isEmpty {
            stats.removedSegments = try journal.removeSegments { [checkpoints] in checkpoints.retainFrom(partition: Int($0)) }
        }
        stats.journalSegments = journal.segmentCount
        return stats
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

    /// Under `interval`, syncs what was written if the interval has passed (called by a timer,
    /// so an idle coordinator's last writes get synced too).
    func syncIfDue(_ onError: @escaping @Sendable (StorageError) -> Void) {
        guard policy == .interval else { return }
        queue.async { [self] in
            guard unsynced, ContinuousClock.now - lastSync >= interval else { return }
            do throws(StorageError) { try syncLogs() } catch { onError(error) }
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
                continuation.resume()
            }
        }
    }
}
