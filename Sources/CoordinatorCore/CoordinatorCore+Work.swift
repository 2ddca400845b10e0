import Cluster
import Control
import Wire

/// Turning the partition table's directives into work for workers, and the ends of memberships.
extension CoordinatorCore {
    /// Applies the table's directives for the current membership, queueing work for workers.
    ///
    /// Workers are woken once every directive is queued: a worker woken after its first
    /// assignment would be sent that one alone, with batches for the partitions whose
    /// assignments were not queued yet (which it must ignore), and wait a poll for the rest.
    mutating func rebalance(now: Nanoseconds) {
        var woken: [WorkerID] = []
        defer { for worker in woken { wake(worker) } }
        for directive in table.rebalance(active: membership.active) {
            switch directive {
            case .assign(let partition, let worker, let epoch):
                let checkpoint = checkpoints[partition]
                let start = checkpoint?.nextOffset ?? 0
                // The new owner restores the checkpoint and is sent every item after it again.
                counters.replayed += logs[partition].published > start ? logs[partition].published - start : 0
                logs[partition].processed = start
                logs[partition].delivered = start
                let state = checkpoint?.state ?? CheckpointCodec.encode(PartitionState(partition: partition))
                pendingAssigns[worker, default: []].append(Assign(partition: UInt32(partition), epoch: epoch, nextOffset: start, state: state))
                counters.partitionMoves += 1
                markDeliverable(partition)
                log(.info, "partition assigned", ["partition": "\(partition)", "epoch": "\(epoch)", "worker": worker, "from_offset": "\(start)"])
                if !woken.contains(worker) { woken.append(worker) }
            case .revoke(let partition, let worker, let epoch):
                pendingRevokes[worker, default: []].append(PartitionEpoch(partition: UInt32(partition), epoch: epoch))
                if pausedSince[partition] == nil { pausedSince[partition] = now }
                log(.info, "partition revoked (handover)", ["partition": "\(partition)", "epoch": "\(epoch)", "worker": worker])
                if !woken.contains(worker) { woken.append(worker) }
            }
        }
    }

    /// Everything due to `worker` now: new partitions, item batches, revocations.
    mutating func takeWork(for worker: WorkerID) -> Work {
        var work = Work()
        // Partition states go at most `restoreBytesPerReply` (4 MiB) a reply, at least one, so
        // that a worker taking over millions of sensors restores them over several polls and
        // keeps polling (its heartbeat) meanwhile.
        if var assigns = pendingAssigns.removeValue(forKey: worker) {
            var bytes = 0
            var count = 0
            while count < assigns.count, count == 0 || bytes + assigns[count].state.count <= ClusterProtocol.restoreBytesPerReply {
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
        var budget = settings.maxBatchItems
        if var list = deliverable.removeValue(forKey: worker) {
            // Partitions served (or waiting for their assignment) go to the back: when the
            // budget runs out, the ones not reached come first next time.
            var served: [Int] = []
            var visited = 0
            for partition in list {
                guard budget > 0 else { break }
                visited += 1
                guard deliverableFor[partition] == worker else { continue }
                guard let owner = table.owner(of: partition), owner.worker == worker else {
                    // Being released: it is listed again when assigned.
                    deliverableFor[partition] = nil
                    continue
                }
                if undelivered.contains(partition) {
                    served.append(partition)
                    continue
                }
                let log = logs[partition]
                let items = log.items(from: log.processed, limit: budget)
                guard !items.isEmpty else {
                    // Everything durable is processed: listed again when more is written.
                    deliverableFor[partition] = nil
                    continue
                }
                budget -= items.count
                let first = max(log.processed, log.base)
                logs[partition].delivered = max(log.delivered, first + UInt64(items.count))
                work.appendBatch(partition: UInt32(partition), epoch: owner.epoch, firstOffset: first, items: items)
                served.append(partition)
            }
            list.removeFirst(visited)
            list.append(contentsOf: served)
            if !list.isEmpty { deliverable[worker] = list }
        }
        work.revokes = pendingRevokes.removeValue(forKey: worker) ?? []
        return work
    }

    /// Lists the partition for its owner's next `takeWork` (it may have items to deliver).
    /// Returns the owner, nil if the partition has none now (it is listed when assigned).
    @discardableResult
    mutating func markDeliverable(_ partition: Int) -> WorkerID? {
        guard let owner = table.owner(of: partition)?.worker else { return nil }
        if deliverableFor[partition] != owner {
            deliverableFor[partition] = owner
            deliverable[owner, default: []].append(partition)
        }
        return owner
    }

    /// Answers the worker's parked poll if there is work for it.
    mutating func wake(_ worker: WorkerID) {
        guard parked[worker] != nil else { return }
        let work = takeWork(for: worker)
        guard !work.isEmpty else { return }
        parked[worker] = nil
        actions.append(.answer(worker, .work(work)))
    }

    /// A member is gone (dead, or replaced by a new incarnation): its partitions are free.
    mutating func depart(_ departure: Membership.Departure, now: Nanoseconds) {
        let worker = departure.member.id
        let held = table.drop(worker)
        for partition in held where pausedSince[partition] == nil { pausedSince[partition] = now }
        for partition in held {
            pauses.failingOver(partition)
            log(.info, "partition failing over", ["partition": "\(partition)", "epoch": "\(table.entries[partition].epoch)", "worker": worker])
        }
        counters.workersLost += 1
        log(.warning, "worker lost", ["worker": worker, "cause": "\(departure.cause)", "partitions": "\(held.count)"])
        if let poll = parked[worker], poll.incarnation == departure.member.incarnation {
            parked[worker] = nil
            actions.append(.answer(worker, .fenced(reason: "declared dead: \(departure.cause)")))
        }
        forget(worker)
    }

    mutating func forget(_ worker: WorkerID) {
        resuming[worker] = nil
        pendingAssigns[worker] = nil
        pendingRevokes[worker] = nil
        for partition in deliverable.removeValue(forKey: worker) ?? [] where deliverableFor[partition] == worker {
            deliverableFor[partition] = nil
        }
        pipes = pipes.filter { $0.value.worker != worker || membership.isMember(worker, incarnation: $0.value.incarnation) }
    }

    /// The one place a leave ends: a leaving member that holds no partition any more is
    /// removed (it is then told goodbye). Returns whether it was.
    mutating func completeLeave(of worker: WorkerID, now: Nanoseconds) -> Bool {
        guard let member = membership.members[worker], member.leaving, table.partitions(heldBy: worker).isEmpty else { return false }
        _ = membership.remove(worker, incarnation: member.incarnation, cause: .left)
        forget(worker)
        log(.info, "worker left", ["worker": worker])
        rebalance(now: now)
        return true
    }
}
