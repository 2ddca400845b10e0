import Control
import Testing
import Wire
import Worker

/// The worker's logic without sockets: assignments, batches, results, bounded checkpoints,
/// revocations.
@Suite("Worker engine")
struct WorkerEngineTests {
    static func assign(_ partition: Int, epoch: UInt64 = 1) -> Assign {
        Assign(partition: UInt32(partition), epoch: epoch, nextOffset: 0, state: CheckpointCodec.encode(PartitionState(partition: partition)))
    }

    /// `count` settings for sensors `base...`, then one reading above the band for each.
    static func batch(_ partition: Int, sensors count: Int, base: UInt64, epoch: UInt64 = 1) -> Batch {
        var items: [Item] = []
        for i in 0..<UInt64(count) { items.append(.setting(sensor: base + i, Setting(unchecked: 20, up: 0.5, down: 0.5))) }
        for i in 0..<UInt64(count) { items.append(.reading(sensor: base + i, temperature: 30)) }
        return Batch(partition: UInt32(partition), epoch: epoch, firstOffset: 0, items: items)
    }

    @Test func processesBatchesAndReportsCommandsByInputOffset() {
        var engine = WorkerEngine()
        engine.apply(Work(assigns: [Self.assign(3)], batches: [Self.batch(3, sensors: 2, base: 10)]))
        let poll = engine.takePoll(worker: "w", incarnation: 1)
        #expect(poll.results.count == 1)
        #expect(poll.results[0].nextOffset == 4)
        #expect(poll.results[0].commands.map(\.inputOffset) == [2, 3])
        #expect(poll.results[0].commands.allSatisfy { $0.action == .off })
        // Nothing new: the next poll carries nothing.
        #expect(engine.takePoll(worker: "w", incarnation: 1).results.isEmpty)
    }

    /// Replies applied before a poll add up to one result per partition, and an assignment
    /// anew in between drops what the partition's result held (it was of the old epoch).
    @Test func oneResultPerPartitionPerPollAndANewAssignmentSupersedesIt() {
        var engine = WorkerEngine()
        engine.apply(Work(assigns: [Self.assign(3), Self.assign(4)], batches: [Self.batch(3, sensors: 2, base: 10), Self.batch(4, sensors: 1, base: 20)]))
        engine.apply(Work(batches: [Batch(partition: 3, epoch: 1, firstOffset: 4, items: [.reading(sensor: 10, temperature: 10)])]))
        engine.apply(Work(assigns: [Self.assign(4, epoch: 2)]))
        let poll = engine.takePoll(worker: "w", incarnation: 1)
        #expect(poll.results.map(\.partition) == [3])
        #expect(poll.results[0].nextOffset == 5)
        #expect(poll.results[0].commands.map(\.inputOffset) == [2, 3, 4])
        #expect(poll.results[0].commands.map(\.action) == [.off, .off, .on])
        #expect(engine.epoch(of: 4) == 2)
        #expect(engine.nextOffset(of: 4) == 0, "the new assignment's state is the one held")
    }

    @Test func batchForAnotherEpochIsRefusedAndChangesNothing() {
        var engine = WorkerEngine()
        engine.apply(Work(assigns: [Self.assign(1, epoch: 5)], batches: [Self.batch(1, sensors: 1, base: 1, epoch: 4)]))
        #expect(engine.anomalies.count == 1)
        #expect(engine.takePoll(worker: "w", incarnation: 1).results.isEmpty)
        #expect(engine.ownedPartitions == [1])
    }

    @Test func ownedPartitionsFollowAssignmentsAndRevocationsInOrder() {
        var engine = WorkerEngine()
        engine.apply(Work(assigns: [9, 2, 5].map { Self.assign($0) }))
        #expect(engine.ownedPartitions == [2, 5, 9])
        engine.apply(Work(batches: [Self.batch(5, sensors: 2, base: 0)]))
        #expect(engine.ownedPartitions == [2, 5, 9], "stepping a partition does not change what is held")
        engine.apply(Work(assigns: [Self.assign(0)], revokes: [PartitionEpoch(partition: 9, epoch: 1)]))
        #expect(engine.ownedPartitions == [0, 2, 5])
        engine.reset()
        #expect(engine.ownedPartitions.isEmpty)
    }

    @Test func boundedCheckpointRoundsCoverEveryPartitionInTurn() throws {
        var engine = WorkerEngine()
        let partitions = [0, 1, 2, 3]
        engine.apply(Work(assigns: partitions.map { Self.assign($0) },
                          batches: partitions.map { Self.batch($0, sensors: 100, base: UInt64($0) * 1000) }))
        _ = engine.takePoll(worker: "w", incarnation: 1)
        // 250 sensors a round: two partitions of 100 fit, the third would not.
        var rounds: [[UInt32]] = []
        var more = true
        while more {
            more = engine.checkpointChanged(sensorBudget: 250)
            rounds.append(engine.takePoll(worker: "w", incarnation: 1).checkpoints.map(\.partition))
        }
        #expect(rounds == [[0, 1], [2, 3]])
        // Each checkpoint restores the state it was taken from.
        engine.apply(Work(batches: [Batch(partition: 2, epoch: 1, firstOffset: 200, items: [.reading(sensor: 2000, temperature: 10)])]))
        #expect(engine.checkpointChanged(sensorBudget: 250) == false)
        let checkpoint = try #require(engine.takePoll(worker: "w", incarnation: 1).checkpoints.first)
        let state = try CheckpointCodec.decode(checkpoint.state)
        #expect(state.nextOffset == 201)
        #expect(state.sensors[2000]?.last == .on)
        // A budget smaller than any partition still makes progress.
        #expect(engine.checkpointChanged(sensorBudget: 1) == false)
    }

    /// Under load every partition changes between two polls; a round still ends once each of
    /// the partitions it began with is checkpointed, so the worker checkpoints once per interval
    /// rather than all the time.
    @Test func aCheckpointRoundEndsWhileEveryPartitionKeepsChanging() {
        var engine = WorkerEngine()
        let partitions = [0, 1, 2, 3]
        engine.apply(Work(assigns: partitions.map { Self.assign($0) },
                          batches: partitions.map { Self.batch($0, sensors: 100, base: UInt64($0) * 1000) }))
        _ = engine.takePoll(worker: "w", incarnation: 1)
        var taken: [UInt32] = []
        var calls = 0
        var more = true
        while more, calls < 10 {
            more = engine.checkpointChanged(sensorBudget: 150)
            calls += 1
            taken += engine.takePoll(worker: "w", incarnation: 1).checkpoints.map(\.partition)
            // Every partition gets a new reading before the next poll.
            engine.apply(Work(batches: partitions.map { p in
                Batch(partition: UInt32(p), epoch: 1, firstOffset: engine.nextOffset(of: p)!, items: [.reading(sensor: UInt64(p) * 1000, temperature: 10)])
            }))
            _ = engine.takePoll(worker: "w", incarnation: 1)
        }
        #expect(taken == [0, 1, 2, 3], "each partition once, one a call (150 sensors a call)")
        #expect(!more)
        // The next round, when the session starts one, takes them all again.
        #expect(engine.checkpointChanged() == false)
        #expect(engine.takePoll(worker: "w", incarnation: 1).checkpoints.count == 4)
    }

    @Test func revocationCheckpointsAndReleases() {
        var engine = WorkerEngine()
        engine.apply(Work(assigns: [Self.assign(7, epoch: 2)], batches: [Self.batch(7, sensors: 3, base: 1, epoch: 2)]))
        engine.apply(Work(revokes: [PartitionEpoch(partition: 7, epoch: 2)]))
        let poll = engine.takePoll(worker: "w", incarnation: 1)
        #expect(poll.released == [PartitionEpoch(partition: 7, epoch: 2)])
        #expect(poll.checkpoints.map(\.nextOffset) == [6])
        #expect(engine.ownedPartitions.isEmpty)
    }

    @Test func anAssignmentThatDoesNotRestoreIsReportedOnceAndNotTaken() throws {
        var engine = WorkerEngine()
        var corrupt = CheckpointCodec.encode(PartitionState(partition: 4, nextOffset: 10))
        corrupt[8] ^= 0xFF
        engine.apply(Work(assigns: [
            Assign(partition: 4, epoch: 3, nextOffset: 10, state: corrupt),
            Assign(partition: 5, epoch: 3, nextOffset: 10, state: CheckpointCodec.encode(PartitionState(partition: 6, nextOffset: 10))),
            Assign(partition: 6, epoch: 3, nextOffset: 10, state: CheckpointCodec.encode(PartitionState(partition: 6, nextOffset: 9))),
            Self.assign(7, epoch: 3),
        ]))
        #expect(engine.ownedPartitions == [7])
        #expect(engine.anomalies.count == 3)
        let poll = engine.takePoll(worker: "w", incarnation: 1)
        #expect(poll.unrestored.map(\.partition) == [4, 5, 6])
        #expect(poll.unrestored.allSatisfy { $0.epoch == 3 })
        #expect(poll.unrestored[0].reason == "checkpoint checksum mismatch")
        #expect(poll.unrestored[1].reason.contains("partition 6"))
        #expect(poll.unrestored[2].reason.contains("offset 9"))
        // Said once: the next poll carries nothing.
        #expect(engine.takePoll(worker: "w", incarnation: 1).unrestored.isEmpty)
    }

    @Test func batchesForAPartitionNotHeldAreReportedOncePerEpoch() throws {
        var engine = WorkerEngine()
        var corrupt = CheckpointCodec.encode(PartitionState(partition: 4))
        corrupt[0] = 0
        engine.apply(Work(assigns: [Assign(partition: 4, epoch: 3, nextOffset: 0, state: corrupt)]))
        _ = engine.takePoll(worker: "w", incarnation: 1)
        // Until the coordinator learns, batches for it keep coming: one line in all, not one each.
        var lines: [String] = []
        for _ in 0..<1000 {
            engine.apply(Work(batches: [Self.batch(4, sensors: 2, base: 1, epoch: 3)]))
            lines += engine.anomalies
            let poll = engine.takePoll(worker: "w", incarnation: 1)
            #expect(poll.results.isEmpty && poll.unrestored.isEmpty)
        }
        #expect(lines.isEmpty)
        // A batch of another epoch, or for a partition held at another epoch: once each too.
        for _ in 0..<10 {
            engine.apply(Work(assigns: [], batches: [Self.batch(4, sensors: 1, base: 1, epoch: 4), Self.batch(9, sensors: 1, base: 1, epoch: 1)]))
            lines += engine.anomalies
            _ = engine.takePoll(worker: "w", incarnation: 1)
        }
        #expect(lines.count == 2)
        // Assigned again with a good state: taken, and processes.
        engine.apply(Work(assigns: [Self.assign(4, epoch: 5)], batches: [Self.batch(4, sensors: 2, base: 1, epoch: 5)]))
        #expect(engine.anomalies.isEmpty)
        #expect(engine.ownedPartitions == [4])
        #expect(engine.takePoll(worker: "w", incarnation: 1).results.map(\.nextOffset) == [4])
    }

    @Test func aBadAssignmentDropsWhatWasHeldOfThePartition() {
        var engine = WorkerEngine()
        engine.apply(Work(assigns: [Self.assign(2, epoch: 1)], batches: [Self.batch(2, sensors: 1, base: 1, epoch: 1)]))
        engine.apply(Work(assigns: [Assign(partition: 2, epoch: 2, nextOffset: 0, state: [1, 2, 3])]))
        #expect(engine.ownedPartitions.isEmpty)
        let poll = engine.takePoll(worker: "w", incarnation: 1)
        #expect(poll.results.isEmpty)
        #expect(poll.unrestored.map(\.epoch) == [2])
    }
}
