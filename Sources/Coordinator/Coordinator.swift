import Cluster
import Control
import Logging
import Wire

/// The coordinator's state and decisions, driven by ``CoordinatorService``.
///
/// It owns the partition logs and the protocol state machines (``Membership`` and
/// ``PartitionTable``) and turns their directives into work for workers. It does no socket
/// I/O: the service decodes requests, calls in, and sends what comes back. Commands to publish
/// leave through ``feed``; checkpoint writes go to the disk queue.
actor Coordinator {
    let configuration: CoordinatorConfiguration
    let directory: DataDirectory
    let partitioner: Partitioner
    private let logger: Logger
    private let clock = MonotonicClock()
    private let limiter = RateLimitedLog()

    private var membership: Membership
    private var table: PartitionTable
    private var logs: [PartitionLog]
    private var checkpoints: [DataDirectory.StoredCheckpoint?]
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
    private var running = true

    private struct ParkedPoll {
        let incarnation: UInt64
        let deadline: UInt64
        let continuation: CheckedContinuation<ClusterReply, Never>
    }

    /// Feed messages (`"<sensor> <json>"`) for the PUB socket, in publication order.
    nonisolated let feed: AsyncStream<[UInt8]>
    private let feedContinuation: AsyncStream<[UInt8]>.Continuation

    init(configuration: CoordinatorConfiguration, directory: DataDirectory, logger: Logger) {
        self.configuration = configuration
        self.directory = directory
        self.logger = logger
        let count = directory.partitionCount
        partitioner = Partitioner(count: count)
        logs = Array(repeating: PartitionLog(), count: count)
        checkpoints = Array(repeating: nil, count: count)
        checkpointTimes = Array(repeating: nil, count: count)
        (feed, feedContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)

        // Start from the stored checkpoints; epochs continue above the highest stored one and
        // incarnations above the wall clock, so nothing from before a restart looks current.
        var highestEpoch: UInt64 = 0
        for partition in 0..<count {
            switch directory.readCheckpoint(partition: partition) {
            case .none:
                break
            case .found(let checkpoint):
                checkpoints[partition] = checkpoint
                logs[partition].reset(to: checkpoint.nextOffset)
                highestEpoch = max(highestEpoch, checkpoint.epoch)
            case .corrupt(let reason):
                logger.error("ignoring corrupt checkpoint", metadata: ["partition": "\(partition)", "reason": "\(reason)"])
            }
        }
        table = PartitionTable(partitionCount: count, startEpoch: highestEpoch)
        membership = Membership(
            heartbeatTimeout: configuration.heartbeatTimeout.nanoseconds,
            firstIncarnation: WallClock.microsecondsSinceEpoch()
        )
    }

    // MARK: - Ingest

    /// Appends a decoded request's valid items to their partitions' logs.
    func ingest(_ request: IngestRequest) -> IngestReply {
        guard running else { return IngestReply(accepted: 0, rejected: [], error: "coordinator is shutting down") }
        counters.rejected += UInt64(request.rejected.count)
        if buffered + request.items.count > configuration.maxBufferedItems {
            counters.rejectedRequests += 1
            limiter.warning(logger, "overloaded", "refusing ingest: \(buffered) items wait for workers")
            return IngestReply(
                accepted: 0, rejected: [],
                error: "overloaded: \(buffered) items are waiting for workers; retry later"
            )
        }
        var touched = Set<Int>()
        for item in request.items {
            let partition = partitioner.partition(of: item.sensor)
            logs[partition].append(item)
            touched.insert(partition)
        }
        buffered += request.items.count
        counters.accepted += UInt64(request.items.count)
        for partition in touched {
            if let owner = table.owner(of: partition) { wake(owner.worker) }
        }
        return IngestReply(accepted: request.items.count, rejected: request.rejected, error: nil)
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
        let (incarnation, replaced) = membership.join(name, now: now)
        if let replaced { depart(replaced) }
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
        // A REQ resend or reconnect can leave an older poll parked: answer it empty.
        parked.removeValue(forKey: worker)?.continuation.resume(returning: .work(Work()))

        for result in poll.results { record(result, from: worker) }
        for checkpoint in poll.checkpoints { store(checkpoint, from: worker, now: now) }
        var released = false
        for release in poll.released {
            if table.released(Int(release.partition), by: worker, epoch: release.epoch) {
                released = true
                logger.debug("partition released", metadata: ["partition": "\(release.partition)", "worker": "\(worker)"])
            } else {
                counters.fenced += 1
            }
        }
        if released { rebalance() }

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
                let event = CommandEvent(sensor: command.sensor, action: command.action, partition: partition, inputOffset: command.inputOffset, commandOffset: nil)
                feedContinuation.yield(event.encodeFeedMessage())
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

    private func store(_ checkpoint: Checkpoint, from worker: WorkerID, now: UInt64) {
        let partition = Int(checkpoint.partition)
        guard table.accepts(partition: partition, worker: worker, epoch: checkpoint.epoch),
              checkpoint.nextOffset <= logs[partition].head
        else {
            counters.fenced += 1
            return
        }
        let stored = DataDirectory.StoredCheckpoint(epoch: checkpoint.epoch, nextOffset: checkpoint.nextOffset, state: checkpoint.state)
        checkpoints[partition] = stored
        checkpointTimes[partition] = now
        counters.checkpoints += 1
        buffered -= logs[partition].trim(below: checkpoint.nextOffset)
        let directory = directory
        let logger = logger
        // The disk queue is serial, so writes of one partition land in order.
        BlockingIO.queue.async {
            do {
                try directory.writeCheckpoint(partition: partition, stored)
            } catch {
                logger.error("checkpoint write failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
            }
        }
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
                wake(worker)
            }
        }
    }

    /// Everything due to `worker` now: new partitions, item batches, revocations.
    private func takeWork(for worker: WorkerID) -> Work {
        var work = Work()
        work.assigns = pendingAssigns.removeValue(forKey: worker) ?? []
        var budget = configuration.maxBatchItems
        for partition in table.partitions(heldBy: worker) where budget > 0 {
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
    }

    /// Stops taking work and answers every held poll.
    func shutdown() {
        running = false
        for (_, poll) in parked { poll.continuation.resume(returning: .work(Work())) }
        parked.removeAll()
        feedContinuation.finish()
    }

    var isRunning: Bool { running }

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
        return StatusReport(partitionCount: partitioner.count, workers: workers, partitions: partitions, counters: counters)
    }
}
