import Control
import Cluster
import PropertyBased
import Testing

@Suite("Partition table: epochs, handoff, fencing")
struct PartitionTableTests {
    @Test func firstAssignmentGivesEveryPartitionAnOwnerAndEpoch() {
        var table = PartitionTable(partitionCount: 8)
        let directives = table.rebalance(active: ["a", "b"])
        #expect(directives.count == 8)
        #expect(directives.allSatisfy { if case .assign(_, _, 1) = $0 { true } else { false } })
        #expect(table.partitions(heldBy: "a").count == 4)
    }

    @Test func joinRevokesFirstThenAssignsAfterRelease() throws {
        var table = PartitionTable(partitionCount: 6)
        _ = table.rebalance(active: ["a"])
        let revokes = table.rebalance(active: ["a", "b"])
        #expect(revokes.count == 3)
        #expect(revokes.allSatisfy { if case .revoke(_, "a", 1) = $0 { true } else { false } })
        // While releasing, nothing is delivered and a is still accepted (to finish and checkpoint).
        guard case .revoke(let p, _, let epoch) = revokes[0] else { Issue.record(); return }
        #expect(table.owner(of: p) == nil)
        #expect(table.accepts(partition: p, worker: "a", epoch: epoch))
        let released = table.released(p, by: "a", epoch: epoch)
        #expect(released)
        let assigns = table.rebalance(active: ["a", "b"])
        #expect(assigns == [.assign(partition: p, worker: "b", epoch: 2)])
        // The old owner is fenced off from now on.
        #expect(!table.accepts(partition: p, worker: "a", epoch: 1))
        let stale = table.released(p, by: "a", epoch: 1)
        #expect(!stale)
    }

    @Test func deadWorkerPartitionsMoveAtOnceWithNewEpochs() {
        var table = PartitionTable(partitionCount: 5)
        _ = table.rebalance(active: ["a", "b", "c"])
        let held = table.drop("b")
        let directives = table.rebalance(active: ["a", "c"])
        #expect(Set(directives.map { if case .assign(let p, _, let e) = $0 { return "\(p)@\(e)" } else { return "x" } })
                == Set(held.map { "\($0)@2" }))
        #expect(table.partitions(heldBy: "a").count + table.partitions(heldBy: "c").count == 5)
    }

    @Test func leavingWorkerReleasesEverything() {
        var table = PartitionTable(partitionCount: 4)
        _ = table.rebalance(active: ["a", "b"])
        let directives = table.rebalance(active: ["b"])  // a leaves: it is no longer active
        #expect(directives.count == 2)
        #expect(directives.allSatisfy { if case .revoke(_, "a", _) = $0 { true } else { false } })
    }

    /// Random joins, leaves, deaths and releases in quick succession: at every step each
    /// partition has at most one holder, epochs never go down, and once the churn stops and
    /// every release is confirmed the table is balanced with every partition owned.
    ///
    /// "Holder" is tracked from the directives, independently of the table: a worker holds a
    /// partition from its `assign` until it confirms the release the table accepts, or until
    /// it is dropped as dead (its later messages are fenced by the epoch). A partition assigned
    /// anew while its previous holder is still releasing it would have two.
    @Test func churnConverges() async {
        await propertyCheck(count: 200, input: Gen.int(in: 1...80), Gen.int(in: 0...1_000_000)) { p, seed in
            var rng = SplitMix64(seed: UInt64(seed))
            var table = PartitionTable(partitionCount: p)
            var active: [WorkerID] = ["w0"]
            var nextName = 1
            var epochs = table.entries.map(\.epoch)
            var pending: [(Int, WorkerID, UInt64)] = []
            var holders = Array(repeating: Set<WorkerID>(), count: p)
            func apply(_ directives: [PartitionTable.Directive]) {
                for d in directives {
                    switch d {
                    case .revoke(let p, let w, let e): pending.append((p, w, e))
                    case .assign(let p, let w, _): holders[p].insert(w)
                    }
                }
            }
            func release(_ p: Int, _ w: WorkerID, _ e: UInt64) {
                if table.released(p, by: w, epoch: e) { holders[p].remove(w) }
            }
            func expectOneHolderAtMost(_ step: String) {
                for partition in 0..<p {
                    #expect(holders[partition].count <= 1, "partition \(partition) held by \(holders[partition].sorted()) after \(step)")
                    #expect(holders[partition] == Set([table.entries[partition].holder].compactMap { $0 }),
                            "partition \(partition): the table says \(String(describing: table.entries[partition].holder)), the directives \(holders[partition].sorted())")
                }
            }
            apply(table.rebalance(active: active))
            expectOneHolderAtMost("the first assignment")
            for step in 0..<30 {
                switch rng.next() % 4 {
                case 0: active.append("w\(nextName)"); nextName += 1
                case 1 where active.count > 1: active.remove(at: Int(rng.next() % UInt64(active.count)))
                case 2 where active.count > 1:
                    let dead = active.remove(at: Int(rng.next() % UInt64(active.count)))
                    for partition in table.drop(dead) { holders[partition].remove(dead) }
                    #expect(!holders.contains { $0.contains(dead) }, "drop(\(dead)) returns every partition it held")
                default:
                    if !pending.isEmpty {
                        let (p, w, e) = pending.remove(at: Int(rng.next() % UInt64(pending.count)))
                        release(p, w, e)
                    }
                }
                apply(table.rebalance(active: active))
                expectOneHolderAtMost("step \(step)")
                let now = table.entries.map(\.epoch)
                #expect(zip(epochs, now).allSatisfy { $0 <= $1 })
                epochs = now
            }
            // Quiesce: confirm every outstanding release until none is left.
            var rounds = 0
            while !pending.isEmpty, rounds < 1000 {
                let (p, w, e) = pending.removeFirst()
                release(p, w, e)
                apply(table.rebalance(active: active))
                expectOneHolderAtMost("quiescing")
                rounds += 1
            }
            let owners = (0..<p).map { table.owner(of: $0)?.worker }
            #expect(owners.allSatisfy { $0 != nil && active.contains($0!) })
            let c = owners.reduce(into: [WorkerID: Int]()) { $0[$1!, default: 0] += 1 }
            let values = active.map { c[$0, default: 0] }
            #expect(values.max()! - values.min()! <= 1)
        }
    }
}
