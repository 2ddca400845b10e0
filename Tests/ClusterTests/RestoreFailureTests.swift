import Control
import Cluster
import PropertyBased
import Testing

/// A worker that cannot restore a partition's state says so; the partition goes to another
/// worker and never back to it, so a state one worker cannot read is neither stalled nor
/// bounced between it and the coordinator.
@Suite("Partition table: restore failures")
struct RestoreFailureTests {
    static func assigns(_ directives: [PartitionTable.Directive]) -> [(partition: Int, worker: WorkerID, epoch: UInt64)] {
        directives.compactMap { if case .assign(let p, let w, let e) = $0 { (p, w, e) } else { nil } }
    }

    @Test func aPartitionThatCannotBeRestoredMovesToAnotherWorkerWithANewEpoch() throws {
        var table = PartitionTable(partitionCount: 4)
        _ = table.rebalance(active: ["a", "b"])
        let partition = try #require(table.partitions(heldBy: "a").first)
        let epoch = table.entries[partition].epoch
        // Stale or foreign reports change nothing.
        let stale = table.restoreFailed(partition, by: "a", epoch: epoch - 1)
        let foreign = table.restoreFailed(partition, by: "b", epoch: epoch)
        #expect(!stale && !foreign)
        #expect(table.restoreFailures.isEmpty)
        let reported = table.restoreFailed(partition, by: "a", epoch: epoch)
        #expect(reported)
        #expect(table.owner(of: partition) == nil)
        #expect(!table.accepts(partition: partition, worker: "a", epoch: epoch))
        let directives = table.rebalance(active: ["a", "b"])
        #expect(directives == [.assign(partition: partition, worker: "b", epoch: epoch + 1)])
        // b is over its quota now: the next rebalance hands one of its other partitions to a,
        // and partition stays with b for good.
        let moves = table.rebalance(active: ["a", "b"])
        guard case .revoke(let other, "b", let otherEpoch)? = moves.first, moves.count == 1, other != partition else {
            Issue.record("expected one revocation of another of b's partitions: \(moves)")
            return
        }
        _ = table.released(other, by: "b", epoch: otherEpoch)
        let balance = table.rebalance(active: ["a", "b"])
        #expect(balance == [.assign(partition: other, worker: "a", epoch: otherEpoch + 1)])
        for _ in 0..<3 {
            let again = table.rebalance(active: ["a", "b"])
            #expect(again.isEmpty)
        }
        #expect(table.owner(of: partition)?.worker == "b")
        #expect(table.partitions(heldBy: "a").count == 2)
    }

    @Test func aPartitionNoWorkerCanRestoreStaysUnassignedUntilOneRegistersAnew() throws {
        var table = PartitionTable(partitionCount: 3)
        _ = table.rebalance(active: ["a"])
        let reported = table.restoreFailed(1, by: "a", epoch: 1)
        #expect(reported)
        let none = table.rebalance(active: ["a"])
        #expect(none.isEmpty)
        #expect(table.owner(of: 1) == nil)
        #expect(table.partitions(heldBy: "a") == [0, 2])
        // a restarted (perhaps with a build that reads the state): it may try again.
        table.forgetRestoreFailures(of: "a")
        let retry = table.rebalance(active: ["a"])
        #expect(retry == [.assign(partition: 1, worker: "a", epoch: 2)])
    }

    @Test func aPartitionBeingReleasedCanFailToRestoreToo() throws {
        // Assigned to b, then revoked (c joined) before b's report arrived: b never held it, so
        // it can never release it; its report frees it.
        var table = PartitionTable(partitionCount: 2)
        _ = table.rebalance(active: ["b"])
        let revokes = table.rebalance(active: ["b", "c"])
        guard case .revoke(let partition, "b", let epoch)? = revokes.first else {
            Issue.record("no revocation: \(revokes)")
            return
        }
        let reported = table.restoreFailed(partition, by: "b", epoch: epoch)
        #expect(reported)
        let directives = table.rebalance(active: ["b", "c"])
        #expect(directives == [.assign(partition: partition, worker: "c", epoch: epoch + 1)])
    }

    @Test func aGoneWorkersFailuresAreForgotten() {
        var table = PartitionTable(partitionCount: 2)
        _ = table.rebalance(active: ["a", "b"])
        let partition = table.partitions(heldBy: "a")[0]
        _ = table.restoreFailed(partition, by: "a", epoch: table.entries[partition].epoch)
        _ = table.drop("a")
        #expect(table.restoreFailures.isEmpty)
    }

    @Test func planNeverGivesAPartitionToAWorkerExcludedFromIt() async {
        await propertyCheck(input: Gen.int(in: 1...120), Gen.int(in: 1...8), Gen.int(in: 0...1_000_000)) { p, w, seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let names = (0..<w).map { "w\($0)" }
            let current: [WorkerID?] = (0..<p).map { _ in
                let r = Int(rng.next() % UInt64(w + 1))
                return r < w ? names[r] : nil
            }
            var excluded: [Int: Set<WorkerID>] = [:]
            for partition in 0..<p where rng.next() % 3 == 0 {
                excluded[partition] = Set(names.filter { _ in rng.next() % 2 == 0 })
            }
            let plan = Assignment.plan(current: current, workers: names, excluded: excluded)
            for partition in 0..<p {
                let allowed = names.filter { excluded[partition]?.contains($0) != true }
                if allowed.isEmpty {
                    #expect(plan[partition] == nil)
                } else {
                    #expect(plan[partition].map(allowed.contains) == true, "partition \(partition) -> \(plan[partition] ?? "none"), allowed \(allowed)")
                }
            }
            // Without exclusions the plan is the balanced one.
            #expect(Assignment.plan(current: current, workers: names, excluded: [:]) == Assignment.plan(current: current, workers: names))
        }
    }

    /// Random churn with random restore failures: no partition is ever assigned to a worker that
    /// failed to restore it, each worker fails each partition at most once, and once the churn
    /// stops every partition that some active worker may take is owned.
    @Test func churnWithRestoreFailuresConverges() async {
        await propertyCheck(count: 200, input: Gen.int(in: 1...40), Gen.int(in: 0...1_000_000)) { p, seed in
            var rng = SplitMix64(seed: UInt64(seed))
            var table = PartitionTable(partitionCount: p)
            var active: [WorkerID] = ["w0", "w1"]
            var nextName = 2
            var pending: [(Int, WorkerID, UInt64)] = []
            var fresh: [(Int, WorkerID, UInt64)] = []
            var failures = Set<String>()
            func apply(_ directives: [PartitionTable.Directive]) {
                for d in directives {
                    switch d {
                    case .revoke(let p, let w, let e): pending.append((p, w, e))
                    case .assign(let p, let w, let e):
                        #expect(table.restoreFailures[p]?.contains(w) != true, "partition \(p) given to \(w), which could not restore it")
                        fresh.append((p, w, e))
                    }
                }
            }
            apply(table.rebalance(active: active))
            for _ in 0..<40 {
                switch rng.next() % 5 {
                case 0: active.append("w\(nextName)"); nextName += 1
                case 1 where active.count > 1:
                    let dead = active.remove(at: Int(rng.next() % UInt64(active.count)))
                    _ = table.drop(dead)
                case 2 where !fresh.isEmpty:
                    let (p, w, e) = fresh.remove(at: Int(rng.next() % UInt64(fresh.count)))
                    if table.restoreFailed(p, by: w, epoch: e) {
                        #expect(failures.insert("\(p)/\(w)").inserted, "\(w) failed partition \(p) twice")
                    }
                default:
                    if !pending.isEmpty {
                        let (p, w, e) = pending.remove(at: Int(rng.next() % UInt64(pending.count)))
                        _ = table.released(p, by: w, epoch: e)
                    }
                }
                apply(table.rebalance(active: active))
            }
            var rounds = 0
            while !pending.isEmpty, rounds < 1000 {
                let (p, w, e) = pending.removeFirst()
                _ = table.released(p, by: w, epoch: e)
                apply(table.rebalance(active: active))
                rounds += 1
            }
            for partition in 0..<p {
                let allowed = active.filter { table.restoreFailures[partition]?.contains($0) != true }
                let owner = table.owner(of: partition)?.worker
                if allowed.isEmpty {
                    #expect(owner == nil)
                } else {
                    #expect(owner.map(allowed.contains) == true, "partition \(partition) owned by \(owner ?? "none"), allowed \(allowed)")
                }
            }
        }
    }
}
