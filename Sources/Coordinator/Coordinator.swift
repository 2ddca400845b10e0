import Cluster
import Control
import Logging
import Storage
import Wire

/// The coordinator's state and decisions, driven by ``CoordinatorService``.
///
/// It owns the partition logs and the protocol state machines (``Membership`` and
/// ``PartitionTable``) and turns their directives into work for workers. It does no socket
/// I/O: the service decodes requests, calls in, and sends what comes back. Commands to publish
/// leave through ``feed``.
///
/// Disk writes are group commits: whatever the actor decides while the ``DiskWriter`` is busy
/// (journal records, commands, checkpoints) gathers in one pending batch, written as soon as
/// the previous one is done; a request is acknowledged, and its items handed to workers, only
/// once its batch is written.
actor Coordinator {
    let configuration: CoordinatorConfiguration
    let directory: DataDirectory
    let partitioner: Partitioner
    private let disk: DiskWriter
    private let logger: Logger
    private let clock = MonotonicClock()
    private let limiter = RateLimitedLog()

    private var membership: Membership
    private var table: PartitionTable
    private var logs: [PartitionLog]
    private var checkpoints: [StoredCheckpoint?]
    private var checkpointTimes: [UInt64?]
    private var counters = Counters()
    private var buffered = 0

    /// Work decided for a worker and not yet handed to it.
    private var pendingAssigns: [WorkerID: [Assign]] = [:]
    private var pendingRevokes: [WorkerID: [PartitionEpoch]] = [:]
    /// Polls held until there is work or the wait runs out.
    private var parked: [WorkerID: ParkedPoll] = [:]
    /// Which member each cluster connection belongs to, so a lost connection is a lost worker.
    private var pipes: [UInt32: (worker: WorkerID, incarnation: UInt64)] = [:]
    /// Partitions between owners: since when they have not been processed.
    private var pausedSince: [Int: UInt64] = [:]
    /// Partitions whose new owner got its assignment, until that owner's next poll (it has
    /// then restored the state and processed the waiting items).
    private var resuming: [WorkerID: [Int]] = [:]
    private var pauses = PauseRecorder()
    private var running = true

    // Group commit.
    private var pending = DiskBatch()
    /// The pending batch's number; batches up to `written` are on disk.
    private var batchNumber: UInt64 = 1
    private var written: UInt64 = 0
    private var writing = false
    private var batchWaiters: [UInt64: [CheckedContinuation<String?, Never>]] = [:]
    /// Set when the disk failed: the coordinator stops serving.
    private(set) var failure: String?

    // Idempotent producers.
    private var producers: ProducerTable
    /// The batch holding each producer's last request, while that batch is not written yet.
    private var producerBatch: [String: UInt64] = [:]

    // The command log.
    private var commandEnd: UInt64
    /// The end of the command log as written to disk.
    private var writtenCommandEnd: UInt64
    private var commandReaders: [CommandReader] = []
    /// Long polls on the command log held at once; beyond this a read answers at once, so that
    /// followers never take every admin context and quick calls (status) always get through.
    static let maximumWaitingReaders = 16

    private struct CommandReader {
        let from: UInt64
        let deadline: UInt64
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct ParkedPoll {
        let incarnation: UInt64
        let deadline: UInt64
        let continuation: CheckedContinuation<ClusterReply, Never>
    }

    /// Feed messages (`"<sensor> <json>"`) for the PUB socket, in publication order.
    /// One element per group commit: its commands' feed messages, in order.
    nonisolated let feed: AsyncStream<[[UInt8]]>
    private let feedContinuation: AsyncStream<[[UInt8]]>.Continuation

    init(configuration: CoordinatorConfiguration, directory: DataDirectory, disk: DiskWriter, recovered: RecoveredState, logger: Logger) {
        self.configuration = configuration
        self.directory = directory
        self.disk = disk
        self.logger = logger
        let count = directory.partitionCount
        partitioner = Partitioner(count: count)
        logs = recovered.logs
        checkpoints = recovered.checkpoints
        checkpointTimes = Array(repeating: nil, count: count)
        producers = recovered.producers
        commandEnd = recovered.commandEnd
        writtenCommandEnd = recovered.commandEnd
        buffered = logs.reduce(0) { $0 + $1.items.count }
        (feed, feedContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)

        // Epochs continue above the highest stored one and incarnations above the wall clock,
        // so nothing from before a restart looks current.
        let highestEpoch = recovered.checkpoints.compactMap { $0?.epoch }.max() ?? 0
        table = PartitionTable(partitionCount: count, startEpoch: highestEpoch)
        membership = Membership(
            heartbeatTimeout: configuration.heartbeatTimeout.nanoseconds,
            firstIncarnation: WallClock.microsecondsSinceEpoch()
        )
    }

    // MARK: - Ingest

    /// Appends a decoded request's valid items to their partitions' logs and the journal, and
    /// returns the encoded reply once they are on disk. A retry of an idempotent producer's
    /// last request gets the kept reply and appends nothing. A refusal (with its code,
    /// docs/protocol.md) appends nothing.
    func ingest(_ request: IngestRequest) async -> [UInt8] {
        guard running, failure == nil else {
            return IngestReply.refused("coordinator is shutting down; retry", code: .shuttingDown).encode()
        }
        if let producer = request.producer, let seq = request.seq {
            switch producers.verdict(producer: producer, seq: seq) {
            case .new:
                break
            case .retry(let reply):
                counters.duplicateRequests += 1
                if let batch = producerBatch[producer], let error = await written(batch) {
                    return IngestReply.refused(error, code: .storageFailure).encode()
                }
                return reply
            case .stale(let last):
                counters.rejectedRequests += 1
                return IngestReply.refused(
                    "stale request: producer '\(producer)' already sent seq \(last), this is seq \(seq)", code: .stale).encode()
            }
        }
        if buffered + request.items.count > configuration.maxBufferedItems {
            counters.rejectedRequests += 1
            limiter.warning(logger, "overloaded", "refusing ingest: \(buffered) items wait for workers")
            return IngestReply.refused("overloaded: \(buffered) items are waiting for workers; retry later", code: .overloaded).encode()
        }
        let now = clock.now()
        let reply = IngestReply(accepted: request.items.count, rejected: request.rejected)
        let encoded = reply.encode()
        // What a retry will get: the reply itself, or its counts and first rejections if long.
        let kept = request.producer == nil ? [] : reply.retained(encoded: encoded)
        if let producer = request.producer, !producers.admits(producer: producer, replyBytes: kept.count, now: now) {
            counters.rejectedRequests += 1
            limiter.warning(logger, "producers-full", "refusing ingest from new producers: the producer table is full (\(producers.count) producers)")
            return IngestReply.refused(
                "too many producers: the table of idempotent producers is full (\(producers.count) producers, \(producers.bytes) bytes), and none has been silent long enough to be forgotten; retry later",
                code: .tooManyProducers).encode()
        }
        // Runs of consecutive offsets per partition, in first-touched order.
        var runIndex: [Int: Int] = [:]
        var runs: [JournalRecord.Run] = []
        for item in request.items {
            let partition = partitioner.partition(of: item.sensor)
            if let index = runIndex[partition] {
                runs[index].items.append(item)
            } else {
                runIndex[partition] = runs.count
                runs.append(JournalRecord.Run(partition: UInt32(partition), firstOffset: logs[partition].head, items: [item]))
            }
        }
        do {
            try JournalRecord.items(.init(producer: request.producer, seq: request.seq ?? 0, reply: kept, runs: runs))
                .encode(into: &pending.journal)
        } catch {
            counters.rejectedRequests += 1
            limiter.warning(logger, "record-too-large", "refused ingest request: \(error)")
            return IngestReply.refused("request refused: \(error)", code: .tooLarge).encode()
        }
        // Nothing refuses it from here on.
        for run in runs {
            let partition = Int(run.partition)
            for item in run.items { logs[partition].append(item) }
            pending.journalEnds[run.partition] = logs[partition].head
        }
        buffered += request.items.count
        counters.accepted += UInt64(request.items.count)
        counters.rejected += UInt64(request.rejected.count)
        if let producer = request.producer, let seq = request.seq {
            let outcome = producers.record(producer: producer, seq: seq, reply: kept, now: now)
            assert(outcome == .recorded, "the producer table refused what it admitted")
            producerBatch[producer] = batchNumber
            pending.producerUpdates.append(.init(producer: producer, seq: seq, reply: kept))
        }
        let batch = batchNumber
        flush()
        if let error = await written(batch) { return IngestReply.refused(error, code: .storageFailure).encode() }
        return encoded
    }

    // MARK: - Group commit

    /// Waits until batch `number` is on disk; returns an error message if the disk failed.
    private func written(_ number: UInt64) async -> String? {
        if let failure { return "storage failure: \(failure)" }
        if number <= written { return nil }
        return await withCheckedContinuation { batchWaiters[number, default: []].append($0) }
    }

    /// Hands the pending batch to the disk if it is idle (else it goes when the disk is done).
    private func flush() {
        guard !writing, !pending.isEmpty, failure == nil else { return }
        writing = true
        let batch = pending
        let number = batchNumber
        pending = DiskBatch()
        batchNumber += 1
        disk.write(batch) { result in
            Task { await self.batchWritten(number, batch, result) }
        }
    }

    /// A batch is on disk: its items may go to workers, its commands to the feed, its requests
    /// their replies.
    private func batchWritten(_ number: UInt64, _ batch: DiskBatch, _ result: Result<DiskWriter.Stats, StorageError>) {
        writing = false
        switch result {
        case .success(let stats):
            written = number
            counters.journalSegments = UInt64(stats.journalSegments)
            counters.journalSegmentsRemoved += UInt64(stats.removedSegments)
            if stats.synced { counters.fsyncs += 1 }
            // Wake each owner once (a wake builds the worker's whole reply).
            var owners = Set<WorkerID>()
            for (partition, head) in batch.journalEnds {
                let partition = Int(partition)
                logs[partition].durable = max(logs[partition].durable, head)
                if let owner = table.owner(of: partition) { owners.insert(owner.worker) }
            }
            for worker in owners { wake(worker) }
            if !batch.commands.isEmpty {
                feedContinuation.yield(batch.commands.map {
                    CommandEvent(sensor: $0.sensor, action: $0.action, partition: Int($0.partition), inputOffset: $0.inputOffset, commandOffset: $0.offset)
                        .encodeFeedMessage()
                })
            }
            for waiter in batchWaiters.removeValue(forKey: number) ?? [] { waiter.resume(returning: nil) }
            if !producerBatch.isEmpty { producerBatch = producerBatch.filter { $0.value > number } }
            if let last = batch.commands.last {
                writtenCommandEnd = last.offset + 1
                for reader in commandReaders { reader.continuation.resume() }
                commandReaders.removeAll()
            }
            flush()
        case .failure(let error):
            fail(error.description)
        }
    }

    /// The disk failed: nothing more can be acknowledged. Answers everyone and stops; a restart
    /// recovers from what is on disk.
    private func fail(_ reason: String) {
        guard failure == nil else { return }
        failure = reason
        logger.critical("storage failure: \(reason); stopping (a restart recovers from what is on disk)")
        for waiter in batchWaiters.values.joined() { waiter.resume(returning: "storage failure: \(reason)") }
        batchWaiters.removeAll()
        shutdown()
    }

    func syncTick() {
        disk.syncIfDue { error in Task { await self.fail(error.description) } }
    }

    func countRejectedRequest(_ reason: String) {
        counters.rejectedRequests += 1
        limiter.warning(logger, "bad-ingest", "refused ingest request: \(reason)")
    }

    // MARK: - Cluster protocol

    func handle(_ request: ClusterRequest, pipe: UInt32?) async -> ClusterReply {
        let now = clock.now()
        switch request {
        case .hello(let hello):
            return join(hello, pipe: pipe, now: now)
        case .leave(let worker, let incarnation):
            guard membership.heard(worker, incarnation: incarnation, now: now) else {
                return .fenced(reason: "unknown worker incarnation: register again")
            }
            membership.markLeaving(worker, incarnation: incarnation)
            logger.info("worker leaving", metadata: ["worker": "\(worker)"])
            rebalance()
            return .work(takeWork(for: worker))
        case .poll(let poll):
            return await handlePoll(poll, pipe: pipe, now: now)
        }
    }

    func countMalformed(_ error: FrameError) {
        counters.malformedFrames += 1
        limiter.warning(logger, "bad-frame", "refused cluster frame: \(error)")
    }

    private func join(_ hello: Hello, pipe: UInt32?, now: UInt64) -> ClusterReply {
        let name = hello.worker
        guard !name.isEmpty, name.utf8.count <= 128, name.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 }) else {
            counters.malformedFrames += 1
            return .refused(reason: "worker id must be 1-128 printable ASCII characters without spaces")
        }
        let incarnation: UInt64
        switch membership.join(name, connection: pipe, now: now) {
        case .nameInUse(let incumbent, let silent):
            // Never throw a live worker out for a newcomer that took its name: refuse the newcomer.
            counters.hellosRefused += 1
            let timeout = membership.heartbeatTimeout / 1_000_000
            limiter.warning(logger, "name-in-use", "refused hello as \(name): name in use by incarnation \(incumbent.incarnation), heard \(silent / 1_000_000) ms ago")
            return .nameInUse("worker '\(name)' is registered on another connection (incarnation \(incumbent.incarnation), heard \(silent / 1_000_000) ms ago); the name is free once that connection closes or it is silent for \(timeout) ms: say hello again later")
        case .joined(let joined, let replaced):
            incarnation = joined
            if let replaced { depart(replaced) }
            // A new incarnation (perhaps a fixed build) may try the partitions it could not restore.
            table.forgetRestoreFailures(of: name)
        }
        if let pipe { pipes[pipe] = (name, incarnation) }
        logger.info("worker joined", metadata: ["worker": "\(name)", "incarnation": "\(incarnation)"])
        rebalance()
        return .welcome(Welcome(
            incarnation: incarnation,
            partitionCount: UInt32(partitioner.count),
            pollWaitMilliseconds: configuration.pollWait.milliseconds,
            checkpointIntervalMilliseconds: configuration.checkpointInterval.milliseconds
        ))
    }

    private func handlePoll(_ poll: Poll, pipe: UInt32?, now: UInt64) async -> ClusterReply {
        let worker = poll.worker
        guard membership.heard(worker, incarnation: poll.incarnation, now: now) else {
            counters.fenced += 1
            return .fenced(reason: "this worker incarnation is not a member (declared dead or unknown): register again")
        }
        if let pipe { pipes[pipe] = (worker, poll.incarnation) }
        // A partition the worker could not restore has not resumed: its pause goes on.
        let unrestored = Set(poll.unrestored.map { Int($0.partition) })
        for partition in resuming.removeValue(forKey: worker) ?? [] where !unrestored.contains(partition) {
            if let since = pausedSince.removeValue(forKey: partition) { pauses.record(now &- since) }
        }
        // A REQ resend or reconnect can leave an older poll parked: answer it empty.
        parked.removeValue(forKey: worker)?.continuation.resume(returning: .work(Work()))

        for result in poll.results { record(result, from: worker) }
        for checkpoint in poll.checkpoints { store(checkpoint, from: worker, now: now) }
        var released = false
        for failure in poll.unrestored where restoreFailed(failure, by: worker, now: now) { released = true }
        for release in poll.released {
            if table.released(Int(release.partition), by: worker, epoch: release.epoch) {
                released = true
                logger.debug("partition released", metadata: ["partition": "\(release.partition)", "worker": "\(worker)"])
            } else {
                counters.fenced += 1
            }
        }
        if released { rebalance() }
        flush()

        if let member = membership.members[worker], member.leaving, table.partitions(heldBy: worker).isEmpty {
            _ = membership.remove(worker, incarnation: poll.incarnation, cause: .left)
            forget(worker)
            logger.info("worker left", metadata: ["worker": "\(worker)"])
            rebalance()
            return .work(Work(goodbye: true))
        }

        let work = takeWork(for: worker)
        if !work.isEmpty || !running { return .work(work) }
        let deadline = now + configuration.pollWait.nanoseconds
        return await withCheckedContinuation { continuation in
            parked[worker] = ParkedPoll(incarnation: poll.incarnation, deadline: deadline, continuation: continuation)
        }
    }

    private func record(_ result: PartitionResult, from worker: WorkerID) {
        let partition = Int(result.partition)
        guard table.accepts(partition: partition, worker: worker, epoch: result.epoch) else {
            counters.fenced += 1
            limiter.warning(logger, "fenced", "ignored results from \(worker) for partition \(partition) epoch \(result.epoch): not the owner")
            return
        }
        var log = logs[partition]
        guard result.nextOffset <= log.head else {
            counters.fenced += 1
            return
        }
        for command in result.commands where command.inputOffset < result.nextOffset {
            if command.inputOffset >= log.published {
                let record = CommandRecord(offset: commandEnd, sensor: command.sensor, action: command.action, partition: UInt32(partition), inputOffset: command.inputOffset)
                commandEnd += 1
                pending.commands.append(record)
                counters.commands += 1
            } else {
                counters.duplicateCommandsSuppressed += 1
            }
        }
        // Replayed items count once: only what lies beyond every earlier result is new.
        if result.nextOffset > log.published { counters.processed += result.nextOffset - log.published }
        log.published = max(log.published, result.nextOffset)
        log.processed = max(log.processed, result.nextOffset)
        counters.droppedNoSetting += UInt64(result.droppedNoSetting)
        logs[partition] = log
    }

    /// Stores a checkpoint from the partition's owner, and drops the items it covers. It is
    /// what the next owner will start from, so it is checked first (``CheckpointCodec/validate``:
    /// about 6 ms for 256k sensors, a quarter of a decode); one that is not what it claims is
    /// refused, counted (`bad_checkpoints`) and logged, and the previous one is kept with the
    /// items after it.
    private func store(_ checkpoint: Checkpoint, from worker: WorkerID, now: UInt64) {
        let partition = Int(checkpoint.partition)
        guard table.accepts(partition: partition, worker: worker, epoch: checkpoint.epoch) else {
            counters.fenced += 1
            return
        }
        let log = logs[partition]
        let offset = checkpoint.nextOffset
        var problem: String?
        if offset < log.base {
            // The next owner would be sent the items from its offset, and they are gone.
            problem = "it is at offset \(offset), before the checkpoint stored (\(log.base))"
        } else if offset > log.published {
            // Dropping the items below it would drop the commands they cause, never reported.
            problem = "it is at offset \(offset), beyond the results reported (\(log.published))"
        } else {
            do {
                try CheckpointCodec.validate(checkpoint.state, partition: partition, nextOffset: offset, partitioner: partitioner)
            } catch {
                problem = error.description
            }
        }
        if let problem {
            counters.badCheckpoints += 1
            limiter.warning(logger, "bad-checkpoint", "refused checkpoint of partition \(partition) from \(worker): \(problem); keeping the one at offset \(checkpoints[partition]?.nextOffset ?? 0)")
            return
        }
        let stored = StoredCheckpoint(epoch: checkpoint.epoch, nextOffset: checkpoint.nextOffset, state: checkpoint.state)
        checkpoints[partition] = stored
        checkpointTimes[partition] = now
        counters.checkpoints += 1
        buffered -= logs[partition].trim(below: checkpoint.nextOffset)
        pending.checkpoints.append((partition, stored))
    }

    /// The worker could not restore a partition it was assigned (the state did not decode
    /// there): the partition is free again, goes to another worker from the same checkpoint (the
    /// last good one: bad ones are never stored), and never again to this incarnation. Returns
    /// whether the partition was freed (false for a stale report, counted as fenced).
    private func restoreFailed(_ failure: Unrestored, by worker: WorkerID, now: UInt64) -> Bool {
        let partition = Int(failure.partition)
        guard table.restoreFailed(partition, by: worker, epoch: failure.epoch) else {
            counters.fenced += 1
            return false
        }
        counters.restoreFailures += 1
        if pausedSince[partition] == nil { pausedSince[partition] = now }
        pendingAssigns[worker]?.removeAll { $0.partition == failure.partition }
        // The reason is the peer's text: at most 200 printable characters of it go to the log.
        let reason = String(String.UnicodeScalarView(failure.reason.unicodeScalars.prefix(200).map { (32..<127).contains($0.value) ? $0 : "?" }))
        limiter.warning(logger, "restore-failed", "\(worker) could not restore partition \(partition) (epoch \(failure.epoch)): \(reason); it goes to another worker, if any can take it")
        return true
    }

    /// Applies the table's directives for the current membership, queueing work for workers.
    private func rebalance() {
        for directive in table.rebalance(active: membership.active) {
            switch directive {
            case .assign(let partition, let worker, let epoch):
                let checkpoint = checkpoints[partition]
                let start = checkpoint?.nextOffset ?? 0
                // The new owner restores the checkpoint and is sent every item after it again.
                logs[partition].processed = start
                let state = checkpoint?.state ?? CheckpointCodec.encode(PartitionState(partition: partition))
                pendingAssigns[worker, default: []].append(Assign(partition: UInt32(partition), epoch: epoch, nextOffset: start, state: state))
                counters.partitionMoves += 1
                wake(worker)
            case .revoke(let partition, let worker, let epoch):
                pendingRevokes[worker, default: []].append(PartitionEpoch(partition: UInt32(partition), epoch: epoch))
                if pausedSince[partition] == nil { pausedSince[partition] = clock.now() }
                wake(worker)
            }
        }
    }

    /// Everything due to `worker` now: new partitions, item batches, revocations.
    private func takeWork(for worker: WorkerID) -> Work {
        var work = Work()
        // Partition states go at most ~32 MiB a reply (at least one), so that a worker taking
        // over millions of sensors restores them over a few polls and keeps polling meanwhile.
        if var assigns = pendingAssigns.removeValue(forKey: worker) {
            var bytes = 0
            var count = 0
            while count < assigns.count, count == 0 || bytes + assigns[count].state.count <= 32 << 20 {
                bytes += assigns[count].state.count
                count += 1
            }
            work.assigns = Array(assigns.prefix(count))
            assigns.removeFirst(count)
            if !assigns.isEmpty { pendingAssigns[worker] = assigns }
        }
        for assign in work.assigns where pausedSince[Int(assign.partition)] != nil {
            resuming[worker, default: []].append(Int(assign.partition))
        }
        let undelivered = Set(pendingAssigns[worker]?.map { Int($0.partition) } ?? [])
        var budget = configuration.maxBatchItems
        for partition in table.partitions(heldBy: worker) where budget > 0 && !undelivered.contains(partition) {
            guard let owner = table.owner(of: partition), owner.worker == worker else { continue }
            let log = logs[partition]
            let items = log.items(from: log.processed, limit: budget)
            guard !items.isEmpty else { continue }
            budget -= items.count
            work.batches.append(Batch(partition: UInt32(partition), epoch: owner.epoch, firstOffset: max(log.processed, log.base), items: Array(items)))
        }
        work.revokes = pendingRevokes.removeValue(forKey: worker) ?? []
        return work
    }

    private func wake(_ worker: WorkerID) {
        guard parked[worker] != nil else { return }
        let work = takeWork(for: worker)
        guard !work.isEmpty else { return }
        parked.removeValue(forKey: worker)?.continuation.resume(returning: .work(work))
    }

    private func depart(_ departure: Membership.Departure) {
        let worker = departure.member.id
        let held = table.drop(worker)
        let now = clock.now()
        for partition in held where pausedSince[partition] == nil { pausedSince[partition] = now }
        resuming[worker] = nil
        counters.workersLost += 1
        logger.warning("worker lost", metadata: [
            "worker": "\(worker)", "cause": "\(departure.cause)", "partitions": "\(held.count)",
        ])
        if let poll = parked[worker], poll.incarnation == departure.member.incarnation {
            parked[worker] = nil
            poll.continuation.resume(returning: .fenced(reason: "declared dead: \(departure.cause)"))
        }
        forget(worker)
    }

    private func forget(_ worker: WorkerID) {
        resuming[worker] = nil
        pendingAssigns[worker] = nil
        pendingRevokes[worker] = nil
        pipes = pipes.filter { $0.value.worker != worker || membership.isMember(worker, incarnation: $0.value.incarnation) }
    }

    /// A cluster connection closed: its worker is gone (SIGKILL, crash, lost host).
    func pipeRemoved(_ pipe: UInt32) {
        guard let (worker, incarnation) = pipes.removeValue(forKey: pipe),
              let departure = membership.remove(worker, incarnation: incarnation, cause: .connectionLost)
        else { return }
        depart(departure)
        rebalance()
    }

    /// Expires silent workers and answers polls whose wait ran out. Called every few ms.
    func tick() {
        let now = clock.now()
        let departures = membership.expire(now: now)
        for departure in departures { depart(departure) }
        if !departures.isEmpty { rebalance() }
        for (worker, poll) in parked where poll.deadline <= now {
            parked[worker] = nil
            poll.continuation.resume(returning: .work(takeWork(for: worker)))
        }
        if commandReaders.contains(where: { $0.deadline <= now }) {
            for reader in commandReaders where reader.deadline <= now { reader.continuation.resume() }
            commandReaders.removeAll { $0.deadline <= now }
        }
    }

    /// Stops taking work and answers every held poll. Idempotent.
    func shutdown() {
        guard running else { return }
        running = false
        for (_, poll) in parked { poll.continuation.resume(returning: .work(Work())) }
        parked.removeAll()
        for reader in commandReaders { reader.continuation.resume() }
        commandReaders.removeAll()
        feedContinuation.finish()
    }

    var isRunning: Bool { running }

    /// After ``shutdown()``: waits (up to `timeout`) until every group commit decided so far is
    /// on disk and its requests have their replies.
    func finishInFlight(timeout: Duration) async {
        let deadline = clock.now() + timeout.nanoseconds
        while failure == nil, writing || !pending.isEmpty || !batchWaiters.isEmpty, clock.now() < deadline {
            flush()
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    // MARK: - Drain

    /// Hands all of `worker`'s partitions to the others; it exits once it holds none.
    func drain(_ worker: WorkerID, force: Bool) throws(AdminError) -> String {
        guard let member = membership.members[worker] else {
            let known = membership.members.keys.sorted().joined(separator: ", ")
            throw AdminError(error: "no worker '\(worker)' (workers: \(known.isEmpty ? "none" : known))", code: .notFound)
        }
        if member.leaving { return "\(worker) is already leaving" }
        if membership.active == [worker], !force {
            throw AdminError(error: "refusing to drain \(worker): it is the last worker, and its \(table.partitions(heldBy: worker).count) partitions would have no owner (items would wait until a worker joins); use --force to drain it anyway")
        }
        membership.markLeaving(worker, incarnation: member.incarnation)
        logger.info("draining worker", metadata: ["worker": "\(worker)", "forced": "\(force)"])
        rebalance()
        // A worker with nothing to hand over is told goodbye on its next poll.
        if let poll = parked[worker], table.partitions(heldBy: worker).isEmpty {
            parked[worker] = nil
            _ = membership.remove(worker, incarnation: member.incarnation, cause: .left)
            forget(worker)
            poll.continuation.resume(returning: .work(Work(goodbye: true)))
        }
        return "draining \(worker): handing over \(table.partitions(heldBy: worker).count) partitions"
    }

    // MARK: - Command log

    /// Up to `limit` commands of the durable log from `offset`; waits up to `wait` for one if
    /// there are none yet.
    func readCommands(from offset: UInt64, limit: Int, wait: Duration) async throws(StorageError) -> CommandsReply {
        if offset >= writtenCommandEnd, wait > .zero, running, commandReaders.count < Self.maximumWaitingReaders {
            let deadline = clock.now() + wait.nanoseconds
            await withCheckedContinuation { commandReaders.append(CommandReader(from: offset, deadline: deadline, continuation: $0)) }
        }
        let end = writtenCommandEnd
        guard offset < end else {
            return CommandsReply(commands: [], next: offset, start: 0, end: end)
        }
        let (records, start) = try await disk.readCommands(from: offset, limit: min(limit, Int(clamping: end - offset)))
        let entries = records.map {
            CommandsReply.Entry(offset: $0.offset, sensor: $0.sensor, action: $0.action.rawValue, heater: $0.action.name, partition: $0.partition, inputOffset: $0.inputOffset)
        }
        return CommandsReply(commands: entries, next: records.last.map { $0.offset + 1 } ?? max(offset, start), start: start, end: end)
    }

    // MARK: - Status

    func status() -> StatusReport {
        let now = clock.now()
        let workers = membership.members.values.sorted { $0.id < $1.id }.map { member in
            StatusReport.WorkerStatus(
                id: member.id, incarnation: member.incarnation,
                partitions: table.partitions(heldBy: member.id), leaving: member.leaving,
                lastHeardMilliseconds: (now &- member.lastHeard) / 1_000_000
            )
        }
        let partitions = table.entries.indices.map { partition in
            let entry = table.entries[partition]
            let log = logs[partition]
            let state = switch entry.phase {
            case .owned: "owned"
            case .releasing: "releasing"
            case .unassigned: "unassigned"
            }
            return StatusReport.PartitionStatus(
                id: partition, owner: entry.holder, state: state, epoch: entry.epoch,
                head: log.head, processed: log.processed, checkpoint: checkpoints[partition]?.nextOffset ?? 0,
                lag: log.lag, checkpointAgeMilliseconds: checkpointTimes[partition].map { (now &- $0) / 1_000_000 }
            )
        }
        var counters = counters
        counters.commandLogEnd = writtenCommandEnd
        counters.commandsUnwritten = commandEnd - writtenCommandEnd
        var report = StatusReport(partitionCount: partitioner.count, workers: workers, partitions: partitions, counters: counters)
        report.pauses = pauses.summary()
        return report
    }
}
