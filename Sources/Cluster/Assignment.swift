/// Balanced, sticky assignment of partitions to workers.
///
/// Quotas: with P partitions and W workers every worker gets `P / W` partitions and `P % W` of
/// them one more, so counts differ by at most one. Stickiness: the extra ones go to the workers
/// that hold the most already (ties by name), a worker keeps up to its quota of what it holds,
/// and only the excess moves. A membership change therefore moves the fewest partitions that
/// balance allows.
public enum Assignment {
    /// Each worker's quota, given what each holds now.
    public static func quotas(partitionCount: Int, workers: [WorkerID], holding: [WorkerID: Int]) -> [WorkerID: Int] {
        guard !workers.isEmpty else { return [:] }
        let base = partitionCount / workers.count
        let extra = partitionCount % workers.count
        let ranked = workers.sorted { a, b in
            let (ha, hb) = (holding[a, default: 0], holding[b, default: 0])
            return ha != hb ? ha > hb : a < b
        }
        var quotas: [WorkerID: Int] = [:]
        for (rank, worker) in ranked.enumerated() {
            quotas[worker] = base + (rank < extra ? 1 : 0)
        }
        return quotas
    }

    /// The target owner of every partition, from the current owners (nil = none, or an owner
    /// that is not among `workers`). Pure: the same input always gives the same plan.
    ///
    /// - Parameter frozen: partitions in transit (being released by an owner that will not keep
    ///   them). They are neither held nor filled: their targets come out nil, and the slots they
    ///   will fill stay open as deficits for the next plan.
    /// - Parameter excluded: per partition, workers that must not get it (they could not restore
    ///   it). Such a partition goes to another worker, over its quota if need be, rather than to
    ///   none; and a worker over its quota keeps those partitions before others. A partition that
    ///   no worker may take comes out nil.
    public static func plan(current: [WorkerID?], workers: [WorkerID], frozen: Set<Int> = [], excluded: [Int: Set<WorkerID>] = [:]) -> [WorkerID?] {
        let live = Set(workers)
        guard !live.isEmpty else { return Array(repeating: nil, count: current.count) }
        func allowed(_ worker: WorkerID, _ partition: Int) -> Bool { excluded[partition]?.contains(worker) != true }
        /// Whether some live worker must not take the partition.
        func restricted(_ partition: Int) -> Bool { excluded[partition].map { !$0.isDisjoint(with: live) } ?? false }
        var target: [WorkerID?] = current.enumerated().map { partition, owner in
            frozen.contains(partition) ? nil : owner.flatMap { live.contains($0) && allowed($0, partition) ? $0 : nil }
        }
        var holding: [WorkerID: [Int]] = [:]
        for (partition, owner) in target.enumerated() {
            if let owner { holding[owner, default: []].append(partition) }
        }
        let quotas = quotas(partitionCount: current.count, workers: Array(live), holding: holding.mapValues(\.count))
        // Shed the excess: the highest-numbered partitions of a worker over its quota, those that
        // every worker may take first.
        for (worker, partitions) in holding {
            let excess = partitions.count - quotas[worker, default: 0]
            if excess > 0 {
                let order = partitions.filter(restricted) + partitions.filter { !restricted($0) }
                for partition in order.suffix(excess) { target[partition] = nil }
                holding[worker] = Array(order.dropLast(excess))
            }
        }
        // Fill the gaps: each free partition goes to the worker furthest below its quota that may
        // take it; partitions with fewer candidates choose first.
        var deficits = live.sorted().map { ($0, quotas[$0, default: 0] - holding[$0, default: []].count) }
        let free = target.indices.filter { target[$0] == nil && !frozen.contains($0) }
        for partition in free.filter(restricted) + free.filter({ !restricted($0) }) {
            let candidates = deficits.indices.filter { allowed(deficits[$0].0, partition) }
            guard let index = candidates.max(by: { deficits[$0].1 < deficits[$1].1 || (deficits[$0].1 == deficits[$1].1 && $0 > $1) }),
                  deficits[index].1 > 0 || restricted(partition)
            else { continue }
            target[partition] = deficits[index].0
            deficits[index].1 -= 1
        }
        return target
    }
}
