import Cluster
import Control
import CoordinatorCore
import Storage
import Testing
import Wire

/// Single rules of the core, each driven by hand.
@Suite("Coordinator core: single rules")
struct CoordinatorCoreTests {
    static let settings = CoreSettings(
        partitionCount: 2, heartbeatTimeout: 800_000_000, pollWait: 100_000_000,
        checkpointIntervalMilliseconds: 1000, maxBufferedItems: 100, maxBatchItems: 100, firstIncarnation: 1
    )

    /// A core with worker "a" holding both partitions and `items` accepted and on disk.
    static func coreWithOwner(items: [Item] = []) throws -> (CoordinatorCore, incarnation: UInt64) {
        var core = CoordinatorCore(settings: settings, stored: StoredState(checkpoints: [nil, nil]))
        guard case .reply(.welcome(let welcome)) = core.handle(.hello(Hello(worker: "a")), pipe: 7, now: 1) else {
            Issue.record("no welcome")
            throw CancellationError()
        }
        if !items.isEmpty {
            _ = core.admit(IngestRequest(items: items), now: 1)
            let write = core.startWrite()
            let (number, batch) = try #require(write)
            core.batchWritten(number, batch, report: WriteReport())
        }
        return (core, welcome.incarnation)
    }

    static func setting(_ sensor: SensorID) -> Item { .setting(sensor: sensor, try! Setting(desired: 20, up: 0.5, down: 0.5)) }

    @Test func commandsBelowThePublishedMarkAreSuppressed() throws {
        let items = [Self.setting(0), .reading(sensor: 0, temperature: 10), .reading(sensor: 0, temperature: 30)]
        var (core, incarnation) = try Self.coreWithOwner(items: items)
        let partition = UInt32(core.partitioner.partition(of: 0))
        let epoch = core.table.entries[Int(partition)].epoch
        let commands = [ProducedCommand(inputOffset: 1, sensor: 0, action: .on), ProducedCommand(inputOffset: 2, sensor: 0, action: .off)]
        // The items go out in the reply to a first poll (a result may only cover what was sent).
        _ = core.handle(.poll(Poll(worker: "a", incarnation: incarnation)), pipe: 7, now: 2)
        let first = PartitionResult(partition: partition, epoch: epoch, nextOffset: 2, commands: [commands[0]])
        _ = core.handle(.poll(Poll(worker: "a", incarnation: incarnation, results: [first])), pipe: 7, now: 2)
        // A replay from offset 0 reports offset 1's command again, and offset 2's for the first time.
        let replay = PartitionResult(partition: partition, epoch: epoch, nextOffset: 3, commands: commands)
        _ = core.handle(.poll(Poll(worker: "a", incarnation: incarnation, results: [replay])), pipe: 7, now: 3)
        let write = core.startWrite()
        let (_, batch) = try #require(write)
        #expect(batch.commands.map(\.inputOffset) == [1, 2])
        #expect(core.counters.duplicateCommandsSuppressed == 1)
        #expect(core.logs[Int(partition)].published == 3)
    }

    /// Defence in depth below the membership check: results, checkpoints and releases stamped
    /// with an epoch other than the current one are refused even from the current holder.
    @Test func staleEpochsAreRefusedEvenFromTheHolder() throws {
        let items = [Self.setting(0), .reading(sensor: 0, temperature: 10)]
        var (core, incarnation) = try Self.coreWithOwner(items: items)
        let partition = UInt32(core.partitioner.partition(of: 0))
        let stale = core.table.entries[Int(partition)].epoch - 1
        let result = PartitionResult(partition: partition, epoch: stale, nextOffset: 2, commands: [ProducedCommand(inputOffset: 1, sensor: 0, action: .on)])
        let poll = Poll(worker: "a", incarnation: incarnation, results: [result], released: [PartitionEpoch(partition: partition, epoch: stale)])
        _ = core.handle(.poll(poll), pipe: 7, now: 2)
        #expect(!core.hasUnwritten, "nothing to write: the stale result published nothing")
        #expect(core.counters.fenced == 2)
        #expect(core.logs[Int(partition)].published == 0)
        #expect(core.table.owner(of: Int(partition))?.worker == "a", "a stale release does not free the partition")
    }

    @Test func aDrainedWorkerWithNothingToHandOverIsToldGoodbyeOnItsParkedPoll() throws {
        var core = CoordinatorCore(settings: Self.settings, stored: StoredState(checkpoints: [nil, nil]))
        guard case .reply(.welcome(let a)) = core.handle(.hello(Hello(worker: "a")), pipe: 1, now: 1) else { throw CancellationError() }
        // b joins while a holds everything: b gets nothing until a releases.
        guard case .reply(.welcome(let b)) = core.handle(.hello(Hello(worker: "b")), pipe: 2, now: 1) else { throw CancellationError() }
        _ = core.takeActions()
        guard case .park = core.handle(.poll(Poll(worker: "b", incarnation: b.incarnation)), pipe: 2, now: 2) else {
            Issue.record("b has no work: its poll is parked")
            return
        }
        #expect(core.table.partitions(heldBy: "b").isEmpty)
        _ = try core.drain("b", force: false, now: 3)
        #expect(core.takeActions().contains(.answer("b", .work(Work(goodbye: true)))))
        #expect(core.membership.members["b"] == nil)
        #expect(core.membership.isMember("a", incarnation: a.incarnation))
    }

    /// A failover hands the survivor every partition of the dead worker in one reply, and no
    /// batch for a partition whose assignment it has not been sent (it would have to ignore it
    /// and wait a poll for the rest).
    @Test func aFailoverSendsEveryAssignmentInTheFirstReply() throws {
        let items = [Self.setting(0), Self.setting(1), Self.setting(2), Self.setting(3)]
        var (core, _) = try Self.coreWithOwner(items: items)
        #expect(Set((0..<4).map { core.partitioner.partition(of: SensorID($0)) }).count == 2, "items in both partitions")
        guard case .reply(.welcome(let b)) = core.handle(.hello(Hello(worker: "b")), pipe: 8, now: 2) else { throw CancellationError() }
        _ = core.takeActions()
        guard case .park = core.handle(.poll(Poll(worker: "b", incarnation: b.incarnation)), pipe: 8, now: 2) else {
            Issue.record("b has no work while a holds everything: its poll is parked")
            return
        }
        core.pipeRemoved(7, now: 3)
        let answers = core.takeActions().compactMap { action -> Work? in
            if case .answer("b", .work(let work)) = action { return work }
            return nil
        }
        let work = try #require(answers.first)
        #expect(answers.count == 1)
        #expect(Set(work.assigns.map(\.partition)) == [0, 1])
        #expect(Set(work.batches.map(\.partition)).isSubset(of: Set(work.assigns.map(\.partition))))
        #expect(work.batches.reduce(0) { $0 + $1.items.count } == 4, "the items of both partitions go with their assignments")
    }

    @Test func aTakeoverOfLargeStatesComesAFewMiBAReply() throws {
        // Four partitions of 50,000 sensors (1.6 MiB each), recovered from checkpoints.
        var settings = Self.settings
        settings.partitionCount = 4
        let checkpoints = (0..<4).map { partition in
            let sensors = (0..<50_000).map { (SensorID(partition * 100_000 + $0), SensorState(setting: Setting(unchecked: 20, up: 1, down: 1), last: nil)) }
            let state = PartitionState(partition: partition, sensors: Dictionary(uniqueKeysWithValues: sensors))
            return PartitionSnapshot(partition: UInt32(partition), epoch: 1, nextOffset: 0, state: CheckpointCodec.encode(state))
        }
        var core = CoordinatorCore(settings: settings, stored: StoredState(checkpoints: checkpoints))
        guard case .reply(.welcome(let welcome)) = core.handle(.hello(Hello(worker: "a")), pipe: 7, now: 1) else { throw CancellationError() }
        var restored: [UInt32] = []
        for poll in 0..<4 where restored.count < 4 {
            guard case .reply(.work(let work)) = core.handle(.poll(Poll(worker: "a", incarnation: welcome.incarnation)), pipe: 7, now: 2 + Nanoseconds(poll)) else {
                Issue.record("the poll is answered at once while states are owed")
                return
            }
            // Two states (3.2 MiB) a reply, within the 4 MiB: the polls between are heartbeats.
            #expect(work.assigns.count == 2)
            #expect(work.assigns.reduce(0) { $0 + $1.state.count } <= ClusterProtocol.restoreBytesPerReply)
            restored += work.assigns.map(\.partition)
        }
        #expect(restored.sorted() == [0, 1, 2, 3])
    }

    @Test func aHelloUnderALiveMembersNameOnAnotherConnectionIsRefused() throws {
        var (core, incarnation) = try Self.coreWithOwner()
        guard case .reply(let reply) = core.handle(.hello(Hello(worker: "a")), pipe: 8, now: 2) else { throw CancellationError() }
        #expect(reply.isNameInUse)
        #expect(core.membership.isMember("a", incarnation: incarnation))
        #expect(core.counters.hellosRefused == 1)
    }

    @Test func aStaleProducerRequestIsRefusedWithItsCode() throws {
        var (core, _) = try Self.coreWithOwner()
        _ = core.admit(IngestRequest(producer: "p", seq: 2, items: [Self.setting(1)]), now: 1)
        guard case .refused(let bytes) = core.admit(IngestRequest(producer: "p", seq: 1, items: [Self.setting(1)]), now: 1) else {
            Issue.record("an older seq is refused")
            return
        }
        #expect(String(decoding: bytes, as: UTF8.self).contains("\"stale\""))
        guard case .reply(_, let batch) = core.admit(IngestRequest(producer: "p", seq: 2, items: [Self.setting(1)]), now: 1) else {
            Issue.record("a retry gets the kept reply")
            return
        }
        #expect(batch == 1, "the retry waits for the original's batch")
        #expect(core.logs.reduce(0) { $0 + $1.items.count } == 1, "the retry appended nothing")
    }

    @Test func overloadIsRefusedBeforeAnythingIsAppended() throws {
        var (core, _) = try Self.coreWithOwner()
        let items = (0..<101).map { Self.setting(SensorID($0)) }
        guard case .refused = core.admit(IngestRequest(items: items), now: 1) else {
            Issue.record("more than maxBufferedItems is refused")
            return
        }
        #expect(core.buffered == 0)
        #expect(!core.hasUnwritten)
    }

    /// A checkpoint is what the next owner starts from: one past the reported results, or one
    /// whose state is not what it claims, is refused and counted, and the items are kept.
    @Test func checkpointsBeyondTheResultsOrWithABadStateAreRefused() throws {
        let items = [Self.setting(0), .reading(sensor: 0, temperature: 10)]
        var (core, incarnation) = try Self.coreWithOwner(items: items)
        let partition = core.partitioner.partition(of: 0)
        let epoch = core.table.entries[partition].epoch
        var state = PartitionState(partition: partition)
        for (offset, item) in items.enumerated() { _ = try state.apply(item, at: UInt64(offset)) }
        let ahead = Checkpoint(partition: UInt32(partition), epoch: epoch, nextOffset: 2, state: CheckpointCodec.encode(state))
        let garbage = Checkpoint(partition: UInt32(partition), epoch: epoch, nextOffset: 0, state: [1, 2, 3])
        _ = core.handle(.poll(Poll(worker: "a", incarnation: incarnation, checkpoints: [ahead, garbage])), pipe: 7, now: 2)
        #expect(core.counters.badCheckpoints == 2)
        #expect(core.checkpoints[partition] == nil)
        #expect(core.logs[partition].items.count == 2)
        // Once the results are in, the same checkpoint is taken and trims what it covers.
        let result = PartitionResult(partition: UInt32(partition), epoch: epoch, nextOffset: 2, commands: [ProducedCommand(inputOffset: 1, sensor: 0, action: .on)])
        _ = core.handle(.poll(Poll(worker: "a", incarnation: incarnation, results: [result], checkpoints: [ahead])), pipe: 7, now: 3)
        #expect(core.counters.badCheckpoints == 2)
        #expect(core.checkpoints[partition] == ahead)
        #expect(core.logs[partition].items.isEmpty)
        #expect(core.buffered == 0)
    }

    /// A worker that cannot restore a partition frees it; it goes to another worker, never
    /// back to that incarnation.
    @Test func aPartitionThatDoesNotRestoreGoesToAnotherWorker() throws {
        var core = CoordinatorCore(settings: Self.settings, stored: StoredState(checkpoints: [nil, nil]))
        guard case .reply(.welcome(let a)) = core.handle(.hello(Hello(worker: "a")), pipe: 1, now: 1) else { throw CancellationError() }
        let epoch = core.table.entries[0].epoch
        _ = core.handle(.poll(Poll(worker: "a", incarnation: a.incarnation, unrestored: [Unrestored(partition: 0, epoch: epoch, reason: "bad")])), pipe: 1, now: 2)
        #expect(core.counters.restoreFailures == 1)
        #expect(core.table.entries[0].holder == nil, "no other worker yet: it waits")
        _ = core.handle(.hello(Hello(worker: "b")), pipe: 2, now: 3)
        #expect(core.table.owner(of: 0)?.worker == "b")
        #expect(core.table.entries[0].epoch == epoch + 1)
    }

    /// A restarted core hands out epochs above every stored checkpoint's.
    @Test func epochsContinueAboveTheStoredOnes() {
        let stored = StoredState(checkpoints: [PartitionSnapshot(partition: 0, epoch: 41, nextOffset: 0, state: CheckpointCodec.encode(PartitionState(partition: 0))), nil])
        var core = CoordinatorCore(settings: Self.settings, stored: stored)
        _ = core.handle(.hello(Hello(worker: "a")), pipe: 1, now: 1)
        #expect(core.table.entries.allSatisfy { $0.epoch == 42 })
    }

    /// The churn property is not vacuous: over a fixed set of seeds its schedules fail workers
    /// over, restart the coordinator and suppress replayed commands.
    @Test func theChurnScheduleExercisesFailover() {
        var suppressed: UInt64 = 0
        var lost: UInt64 = 0
        var restarts = 0
        var commands = 0
        for seed in 0..<20 {
            var cluster = SimulatedCluster(partitionCount: 4)
            let problems = ExactlyOnceTests.run(&cluster, seed: UInt64(seed), steps: 400)
            #expect(problems.isEmpty, "seed \(seed): \(problems.prefix(3))")
            suppressed += cluster.core.counters.duplicateCommandsSuppressed
            lost += cluster.core.counters.workersLost
            restarts += cluster.restarts
            commands += cluster.disk.commands.count
        }
        #expect(suppressed > 0)
        #expect(lost > 0)
        #expect(restarts > 0)
        #expect(commands > 100)
    }
}
