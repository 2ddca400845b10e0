/// Who owns each partition, under which epoch, and which partitions are being handed over.
///
/// Every ownership carries an epoch that grows with each assignment of the partition, so a
/// message stamped with an older epoch comes from an owner that lost the partition and is
/// refused (fencing). A partition moves from a live owner in two steps: the owner is told to
/// release it (``Directive/revoke``), finishes what it has, checkpoints and confirms
/// (``released(_:by:epoch:)``); only then is it assigned anew. A dead owner's partitions are
/// free at once. The table does no I/O: it returns directives for the shell to carry out.
public struct PartitionTable: Sendable, Equatable {
    public enum Phase: Sendable, Hashable {
        case unassigned
        case owned(by: WorkerID)
        /// The owner was told to let go and has not confirmed yet: items wait.
        case releasing(by: WorkerID)
    }

    public struct Entry: Sendable, Hashable {
        public var phase: Phase
        public var epoch: UInt64

        /// The worker that holds the partition now, whether it keeps it or not.
        public var holder: WorkerID? {
            switch phase {
            case .unassigned: nil
            case .owned(let worker), .releasing(let worker): worker
            }
        }
    }

    public enum Directive: Sendable, Hashable {
        case assign(partition: Int, worker: WorkerID, epoch: UInt64)
        case revoke(partition: Int, worker: WorkerID, epoch: UInt64)
    }

    public private(set) var entries: [Entry]
    /// Per partition, the workers that could not restore it: it is not given to them again
    /// (until they register anew, see ``forgetRestoreFailures(of:)``), so a state that one
    /// worker cannot read does not go back and forth between it and the coordinator.
    public private(set) var restoreFailures: [Int: Set<WorkerID>] = [:]

    /// - Parameter startEpoch: the epoch of the first assignment minus one. A coordinator that
    ///   restarts must pass a value above every epoch it handed out before.
    public init(partitionCount: Int, startEpoch: UInt64 = 0) {
        entries = Array(repeating: Entry(phase: .unassigned, epoch: startEpoch), count: partitionCount)
    }

    public var count: Int { entries.count }

    /// Whether `worker` may act for `partition` under `epoch`: it is the holder and the epoch
    /// is current. Anything else is a fenced-off former owner.
    public func accepts(partition: Int, worker: WorkerID, epoch: UInt64) -> Bool {
        guard entries.indices.contains(partition) else { return false }
        let entry = entries[partition]
        return entry.epoch == epoch && entry.holder == worker
    }

    /// Whether items for the partition can be delivered now (owned, not being released).
    public func owner(of partition: Int) -> (worker: WorkerID, epoch: UInt64)? {
        guard case .owned(let worker) = entries[partition].phase else { return nil }
        return (worker, entries[partition].epoch)
    }

    public func partitions(heldBy worker: WorkerID) -> [Int] {
        entries.indices.filter { entries[$0].holder == worker }
    }

    /// Brings the table towards the balanced, sticky assignment for the `active` workers, and
    /// releases every partition held by a worker that is not active (a leaving one).
    public mutating func rebalance(active: [WorkerID]) -> [Directive] {
        var directives: [Directive] = []
        let activeSet = Set(active)
        for partition in entries.indices {
            if case .owned(let worker) = entries[partition].phase, !activeSet.contains(worker) {
                entries[partition].phase = .releasing(by: worker)
                directives.append(.revoke(partition: partition, worker: worker, epoch: entries[partition].epoch))
            }
        }
        let frozen = Set(entries.indices.filter { if case .releasing = entries[$0].phase { true } else { false } })
        let target = Assignment.plan(current: entries.map(\.holder), workers: active, frozen: frozen, excluded: restoreFailures)
        for partition in entries.indices where !frozen.contains(partition) {
            switch (entries[partition].phase, target[partition]) {
            case (.owned(let worker), let next) where next != worker:
                entries[partition].phase = .releasing(by: worker)
                directives.append(.revoke(partition: partition, worker: worker, epoch: entries[partition].epoch))
            case (.unassigned, .some(let worker)):
                entries[partition].epoch += 1
                entries[partition].phase = .owned(by: worker)
                directives.append(.assign(partition: partition, worker: worker, epoch: entries[partition].epoch))
            default:
                break
            }
        }
        return directives
    }

    /// The holder confirms it let go (after its final checkpoint). Returns false for a stale or
    /// unknown release, which changes nothing.
    public mutating func released(_ partition: Int, by worker: WorkerID, epoch: UInt64) -> Bool {
        guard accepts(partition: partition, worker: worker, epoch: epoch) else { return false }
        entries[partition].phase = .unassigned
        return true
    }

    /// The holder could not restore the partition it was assigned under `epoch` (the state it
    /// was given does not decode here): the partition is free at once, and is not given to
    /// this worker again. Returns false for a stale or unknown report, which changes nothing.
    public mutating func restoreFailed(_ partition: Int, by worker: WorkerID, epoch: UInt64) -> Bool {
        guard accepts(partition: partition, worker: worker, epoch: epoch) else { return false }
        entries[partition].phase = .unassigned
        restoreFailures[partition, default: []].insert(worker)
        return true
    }

    /// A worker registers anew (perhaps a fixed build): it may try every partition again.
    public mutating func forgetRestoreFailures(of worker: WorkerID) {
        for (partition, workers) in restoreFailures where workers.contains(worker) {
            restoreFailures[partition] = workers.count == 1 ? nil : workers.subtracting([worker])
        }
    }

    /// A worker is gone: every partition it held is free at once. Returns them.
    public mutating func drop(_ worker: WorkerID) -> [Int] {
        let held = partitions(heldBy: worker)
        for partition in held { entries[partition].phase = .unassigned }
        forgetRestoreFailures(of: worker)
        return held
    }
}
