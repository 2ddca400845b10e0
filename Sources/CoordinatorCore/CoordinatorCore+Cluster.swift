public import Cluster
import Control
import Storage
public import Wire

/// The cluster protocol's events: hello, poll (with results, checkpoints, releases and restore
/// failures), leave, a lost connection and the passing of time.
extension CoordinatorCore {
    /// A request from a worker on connection `pipe`. A poll may be parked.
    public mutating func handle(_ request: ClusterRequest, pipe: UInt32?, now: Nanoseconds) -> PollOutcome {
        switch request {
        case .hello(let hello):
            return .reply(join(hello, pipe: pipe, now: now))
        case .leave(let worker, let incarnation):
            if let refusal = otherConnectionRefusal(worker, incarnation: incarnation, pipe: pipe) { return .reply(refusal) }
            guard membership.heard(worker, incarnation: incarnation, now: now) else {
                return .reply(.fenced(reason: "unknown worker incarnation: register again"))
            }
            membership.markLeaving(worker, incarnation: incarnation)
            log(.info, "worker leaving", ["worker": worker])
            rebalance(now: now)
            return .reply(.work(takeWork(for: worker)))
        case .poll(let poll):
            return handlePoll(poll, pipe: pipe, now: now)
        }
    }

    mutating func join(_ hello: Hello, pipe: UInt32?, now: Nanoseconds) -> ClusterReply {
        let name = hello.worker
        // The token first: a stranger learns nothing about names, members or partitions.
        if let refusal = joinRefusal(hello) {
            counters.hellosUnauthorized += 1
            log(.warning, rateKey: "join-unauthorized", "refused hello: \(refusal)")
            return .refused(reason: refusal)
        }
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
            log(.warning, rateKey: "name-in-use", "refused hello as \(name): name in use by incarnation \(incumbent.incarnation), heard \(silent / 1_000_000) ms ago")
            return .nameInUse("worker '\(name)' is registered on another connection (incarnation \(incumbent.incarnation), heard \(silent / 1_000_000) ms ago); the name is free once that connection closes or it is silent for \(timeout) ms: say hello again later")
        case .joined(let joined, let replaced):
            incarnation = joined
            if let replaced { depart(replaced, now: now) }
            // A new incarnation (perhaps a fixed build) may try the partitions it could not restore.
            table.forgetRestoreFailures(of: name)
        }
        if let pipe { pipes[pipe] = (name, incarnation) }
        log(.info, "worker joined", ["worker": name, "incarnation": "\(incarnation)"])
        rebalance(now: now)
        return .welcome(Welcome(
            incarnation: incarnation,
            partitionCount: UInt32(partitioner.count),
            pollWaitMilliseconds: UInt32(clamping: settings.pollWait / 1_000_000),
            checkpointIntervalMilliseconds: settings.checkpointIntervalMilliseconds
        ))
    }

    mutating func handlePoll(_ poll: Poll, pipe: UInt32?, now: Nanoseconds) -> PollOutcome {
        let worker = poll.worker
        // Before `heard`: another connection must not even keep a member alive.
        if let refusal = otherConnectionRefusal(worker, incarnation: poll.incarnation, pipe: pipe) { return .reply(refusal) }
        guard membership.heard(worker, incarnation: poll.incarnation, now: now) else {
            counters.fenced += 1
            log(.info, "fenced worker", ["worker": worker, "incarnation": "\(poll.incarnation)"])
            return .reply(.fenced(reason: "this worker incarnation is not a member (declared dead or unknown): register again"))
        }
        // Nothing of a poll whose results break a rule is taken, and the worker is fenced.
        if let violation = resultViolation(in: poll) { return .reply(fenceForBadResults(worker, incarnation: poll.incarnation, violation, now: now)) }
        if let pipe { pipes[pipe] = (worker, poll.incarnation) }
        // A partition the worker could not restore has not resumed: its pause goes on.
        let unrestored = Set(poll.unrestored.map { Int($0.partition) })
        for partition in resuming.removeValue(forKey: worker) ?? [] where !unrestored.contains(partition) {
            if let since = pausedSince.removeValue(forKey: partition) { pauses.record(now &- since, partition: partition) }
        }
        // A REQ resend or reconnect can leave an older poll parked: answer it empty.
        if parked.removeValue(forKey: worker) != nil { actions.append(.answer(worker, .work(Work()))) }

        for result in poll.results { record(result, from: worker) }
        for checkpoint in poll.checkpoints { store(checkpoint, from: worker, now: now) }
        var released = false
        for failure in poll.unrestored where restoreFailed(failure, by: worker, now: now) { released = true }
        for release in poll.released {
            if table.released(Int(release.partition), by: worker, epoch: release.epoch) {
                released = true
                log(.debug, "partition released", ["partition": "\(release.partition)", "worker": worker])
            } else {
                counters.fenced += 1
            }
        }
        if released { rebalance(now: now) }

        if completeLeave(of: worker, now: now) { return .reply(.work(Work(goodbye: true))) }
        let work = takeWork(for: worker)
        if !work.isEmpty || !running { return .reply(.work(work)) }
        let deadline = now + settings.pollWait
        parked[worker] = (poll.incarnation, deadline)
        return .park(deadline: deadline)
    }

    /// Takes a worker's results for a partition: publishes (appends to the command log) each
    /// command whose input lies at or beyond the partition's `published` mark and suppresses
    /// the rest (a replay's), then moves the mark. This is the rule that makes commands
    /// exactly-once across failovers (docs/design.md).
    mutating func record(_ result: PartitionResult, from worker: WorkerID) {
        let partition = Int(result.partition)
        guard table.accepts(partition: partition, worker: worker, epoch: result.epoch) else {
            counters.fenced += 1
            log(.warning, rateKey: "fenced", "ignored results from \(worker) for partition \(partition) epoch \(result.epoch): not the owner",
                ["partition": "\(partition)", "epoch": "\(result.epoch)", "worker": worker])
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
    mutating func store(_ checkpoint: Checkpoint, from worker: WorkerID, now: Nanoseconds) {
        let partition = Int(checkpoint.partition)
        guard table.accepts(partition: partition, worker: worker, epoch: checkpoint.epoch) else {
            counters.fenced += 1
            return
        }
        // The marks, not a copy of the log: a copy alive at the trim below made the trim copy
        // every item the log holds (copy-on-write), at each checkpoint of each partition.
        let (base, published) = (logs[partition].base, logs[partition].published)
        let offset = checkpoint.nextOffset
        var problem: String?
        if offset < base {
            // The next owner would be sent the items from its offset, and they are gone.
            problem = "it is at offset \(offset), before the checkpoint stored (\(base))"
        } else if offset > published {
            // Dropping the items below it would drop the commands they cause, never reported.
            problem = "it is at offset \(offset), beyond the results reported (\(published))"
        } else {
            do {
                try CheckpointCodec.validate(checkpoint.state, partition: partition, nextOffset: offset, partitioner: partitioner)
            } catch {
                problem = error.description
            }
        }
        if let problem {
            counters.badCheckpoints += 1
            self.log(.warning, rateKey: "bad-checkpoint", "refused checkpoint of partition \(partition) from \(worker): \(problem); keeping the one at offset \(checkpoints[partition]?.nextOffset ?? 0)")
            return
        }
        checkpoints[partition] = checkpoint
        checkpointTimes[partition] = now
        counters.checkpoints += 1
        buffered -= logs[partition].trim(below: checkpoint.nextOffset)
        pending.checkpoints.append(checkpoint)
    }

    /// The worker could not restore a partition it was assigned (the state did not decode
    /// there): the partition is free again, goes to another worker from the same checkpoint (the
    /// last good one: bad ones are never stored), and never again to this incarnation. Returns
    /// whether the partition was freed (false for a stale report, counted as fenced).
    mutating func restoreFailed(_ failure: Unrestored, by worker: WorkerID, now: Nanoseconds) -> Bool {
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
        log(.warning, rateKey: "restore-failed", "\(worker) could not restore partition \(partition) (epoch \(failure.epoch)): \(reason); it goes to another worker, if any can take it")
        return true
    }

    /// A cluster connection closed: its worker is gone (SIGKILL, crash, lost host).
    public mutating func pipeRemoved(_ pipe: UInt32, now: Nanoseconds) {
        guard let (worker, incarnation) = pipes.removeValue(forKey: pipe),
              let departure = membership.remove(worker, incarnation: incarnation, cause: .connectionLost)
        else { return }
        depart(departure, now: now)
        rebalance(now: now)
    }

    /// Expires silent workers and answers polls whose wait ran out. Called every few ms.
    public mutating func tick(now: Nanoseconds) {
        let departures = membership.expire(now: now)
        for departure in departures { depart(departure, now: now) }
        if !departures.isEmpty { rebalance(now: now) }
        for (worker, poll) in parked.sorted(by: { $0.key < $1.key }) where poll.deadline <= now {
            parked[worker] = nil
            actions.append(.answer(worker, .work(takeWork(for: worker))))
        }
    }
}
