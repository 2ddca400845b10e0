public import Cluster
public import Wire

/// Admin decisions: draining a worker, and the status projection.
extension CoordinatorCore {
    /// Hands all of `worker`'s partitions to the others; it exits once it holds none.
    public mutating func drain(_ worker: WorkerID, force: Bool, now: Nanoseconds) throws(AdminError) -> String {
        guard let member = membership.members[worker] else {
            let known = membership.members.keys.sorted().joined(separator: ", ")
            throw AdminError(error: "no worker '\(worker)' (workers: \(known.isEmpty ? "none" : known))", code: .notFound)
        }
        if member.leaving { return "\(worker) is already leaving" }
        if membership.active == [worker], !force {
            throw AdminError(error: "refusing to drain \(worker): it is the last worker, and its \(table.partitions(heldBy: worker).count) partitions would have no owner (items would wait until a worker joins); use --force to drain it anyway")
        }
        membership.markLeaving(worker, incarnation: member.incarnation)
        log(.info, "draining worker", ["worker": worker, "forced": "\(force)"])
        rebalance(now: now)
        // A worker with nothing to hand over is told goodbye on its parked poll (else on its next).
        if parked[worker] != nil, completeLeave(of: worker, now: now) {
            parked[worker] = nil
            actions.append(.answer(worker, .work(Work(goodbye: true))))
        }
        return "draining \(worker): handing over \(table.partitions(heldBy: worker).count) partitions"
    }

    public func status(now: Nanoseconds) -> StatusReport {
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
