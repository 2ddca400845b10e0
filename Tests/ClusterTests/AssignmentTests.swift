import Control
import Cluster
import PropertyBased
import Testing

/// Generators: a partition count, a set of worker names, and a random current ownership.
private let partitionCounts = Gen.int(in: 1...300)
private let workerCounts = Gen.int(in: 1...12)

private func workers(_ n: Int, prefix: String = "w") -> [WorkerID] { (0..<n).map { "\(prefix)\($0)" } }

private func counts(_ owners: [WorkerID?]) -> [WorkerID: Int] {
    owners.reduce(into: [:]) { acc, owner in if let owner { acc[owner, default: 0] += 1 } }
}

@Suite("Assignment plan")
struct AssignmentTests {
    @Test func everyPartitionOwnedOnceAndBalanced() async {
        await propertyCheck(input: partitionCounts, workerCounts, Gen.int(in: 0...1_000_000)) { p, w, seed in
            var rng = SplitMix64(seed: UInt64(seed))
            let names = workers(w)
            // A random, possibly unbalanced current ownership including unknown and no owners.
            let current: [WorkerID?] = (0..<p).map { _ in
                let r = Int(rng.next() % UInt64(w + 2))
                return r < w ? names[r] : (r == w ? nil : "gone")
            }
            let plan = Assignment.plan(current: current, workers: names)
            #expect(plan.count == p)
            #expect(plan.allSatisfy { $0 != nil && names.contains($0!) })
            let c = counts(plan)
            let values = names.map { c[$0, default: 0] }
            #expect(values.max()! - values.min()! <= 1)
        }
    }

    @Test func stickyMovesOnlyWhatBalanceRequires() async {
        await propertyCheck(input: partitionCounts, workerCounts, Gen.int(in: 0...1)) { p, w, joinOrLeave in
            let names = workers(w)
            let balanced = Assignment.plan(current: Array(repeating: nil, count: p), workers: names)
            let after: [WorkerID]
            if joinOrLeave == 0 || w == 1 {
                after = names + ["new"]
            } else {
                after = Array(names.dropFirst())
            }
            let next = Assignment.plan(current: balanced, workers: after)
            let moved = zip(balanced, next).filter { $0 != $1 }.count
            let c = counts(next)
            if after.count > names.count {
                // A join moves exactly the newcomer's share, nothing else.
                #expect(moved == c["new", default: 0])
                #expect(c["new", default: 0] == p / after.count)
            } else {
                // A leave moves exactly the leaver's partitions.
                #expect(moved == counts(balanced)[names[0], default: 0])
            }
        }
    }

    @Test func planIsAFixedPoint() async {
        await propertyCheck(input: partitionCounts, workerCounts) { p, w in
            let names = workers(w)
            let plan = Assignment.plan(current: Array(repeating: nil, count: p), workers: names)
            #expect(Assignment.plan(current: plan, workers: names) == plan)
        }
    }

    @Test func noWorkersMeansNoOwners() {
        #expect(Assignment.plan(current: ["a", nil], workers: []) == [nil, nil])
    }

    @Test func frozenPartitionsAreLeftAlone() {
        let plan = Assignment.plan(current: [nil, nil, nil, nil], workers: ["a", "b"], frozen: [0])
        #expect(plan[0] == nil)
        #expect(counts(plan).values.sorted() == [1, 2])
    }
}

