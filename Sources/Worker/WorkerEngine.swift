import Control
public import Wire

/// A worker's partitions and what it owes the coordinator, with no I/O.
///
/// ``apply(_:)`` carries out a poll reply (assignments, item batches, revocations) by stepping
/// the keyed controller; ``takePoll(worker:incarnation:)`` collects the results, checkpoints and
/// releases for the next poll. ``WorkerService`` drives it with the socket and the clock.
public struct WorkerEngine: Sendable {
    struct Owned: Sendable {
        var state: PartitionState
        var epoch: UInt64
        /// The offset the newest checkpoint sent covers (nil: none sent yet).
        var checkpointed: UInt64?
        /// Where this partition's result is in ``WorkerEngine/results``, if `resultPoll` is the
        /// current poll: one dictionary lookup a batch, and the results in the order taken.
        var resultIndex = 0
        var resultPoll: UInt64 = .max
    }

    private(set) var partitions: [Int: Owned] = [:]
    /// The results for the next poll (nil: superseded by a new assignment).
    private var results: [PartitionResult?] = []
    /// Counts polls taken: a partition's result slot is valid for this poll only.
    private var pollNumber: UInt64 = 0
    private var checkpoints: [Int: Checkpoint] = [:]
    private var released: [PartitionEpoch] = []
    private var unrestored: [Unrestored] = []
    /// Partitions and epochs that batches came for which this worker could not take, already
    /// reported once as an anomaly (until the partition is assigned again).
    private var strays: Set<PartitionEpoch> = []

    /// Problems the shell should log: they mean a bug or a fenced message, never bad user input.
    /// Each is reported once: batches that keep coming for a partition this worker does not hold
    /// (at that epoch) are dropped silently after the first.
    public private(set) var anomalies: [String] = []

    public init() {}

    /// The partitions held, in order: kept as assignments and revocations change them, since
    /// the worker's probe reads it after every poll (sorting 2,048 keys per poll was 5 % of a
    /// worker at P=4096).
    public private(set) var ownedPartitions: [Int] = []
    /// The epoch this worker holds `partition` under, nil if it does not hold it.
    public func epoch(of partition: Int) -> UInt64? { partitions[partition]?.epoch }
    /// The offset this worker has processed `partition` up to, nil if it does not hold it.
    public func nextOffset(of partition: Int) -> UInt64? { partitions[partition]?.state.nextOffset }
    public var sensorCount: Int { partitions.values.reduce(0) { $0 + $1.state.sensors.count } }

    /// Carries out one reply: assignments first, then batches, then revocations.
    ///
    /// An assignment whose state does not restore (it does not decode, or is of another
    /// partition or offset) is not taken: the next poll tells the coordinator (``Poll/unrestored``),
    /// which gives the partition to another worker.
    public mutating func apply(_ work: Work) {
        for assign in work.assigns {
            let partition = Int(assign.partition)
            // A new assignment supersedes whatever this worker held of the partition.
            if let old = partitions.removeValue(forKey: partition), old.resultPoll == pollNumber { results[old.resultIndex] = nil }
            checkpoints[partition] = nil
            strays = strays.filter { $0.partition != assign.partition }
            let reason: String
            do {
                let state = try CheckpointCodec.decode(assign.state)
                if state.partition == partition, state.nextOffset == assign.nextOffset {
                    partitions[partition] = Owned(state: state, epoch: assign.epoch, checkpointed: assign.nextOffset)
                    continue
                }
                reason = "the state is of partition \(state.partition) at offset \(state.nextOffset), not of partition \(partition) at \(assign.nextOffset)"
            } catch {
                reason = error.description
            }
            anomalies.append("cannot restore partition \(partition) (epoch \(assign.epoch)): \(reason); telling the coordinator")
            unrestored.append(Unrestored(partition: assign.partition, epoch: assign.epoch, reason: reason))
            strays.insert(PartitionEpoch(partition: assign.partition, epoch: assign.epoch))
        }
        work.forEachBatch { run, items in
            switch Self.step(&partitions[Int(run.partition)], run, items, results: &results, poll: pollNumber) {
            case nil:
                break
            case .stray(let held):
                // The line is built only the first time (a confused coordinator may send many).
                guard noteStray(PartitionEpoch(partition: run.partition, epoch: run.epoch)) else { break }
                let holding = held.map { "which this worker holds at epoch \($0)" } ?? "which this worker does not own"
                anomalies.append("batch for partition \(run.partition) epoch \(run.epoch), \(holding) (ignoring any more of them)")
            case .gap(let error):
                anomalies.append("partition \(run.partition): items skipped from offset \(error.got), expected \(error.expected)")
            }
        }
        for revoke in work.revokes {
            let partition = Int(revoke.partition)
            guard let owned = partitions[partition], owned.epoch == revoke.epoch else { continue }
            checkpoints[partition] = Checkpoint(partition: revoke.partition, epoch: owned.epoch, nextOffset: owned.state.nextOffset, state: CheckpointCodec.encode(owned.state))
            released.append(revoke)
            partitions[partition] = nil
        }
        if !work.assigns.isEmpty || !work.revokes.isEmpty { ownedPartitions = partitions.keys.sorted() }
    }

    private enum BatchAnomaly {
        /// A batch this worker cannot take (reported once per partition and epoch): the epoch
        /// it holds the partition at, nil if it does not hold it.
        case stray(held: UInt64?)
        /// Items past a gap in the offsets were skipped.
        case gap(PartitionState.OffsetGap)
    }

    /// Steps one batch's items through its partition's controller, in place (the partition's
    /// sensor table has one owner: a copy here would copy every sensor on each batch), and adds
    /// what they caused to the partition's result.
    private static func step(
        _ slot: inout Owned?, _ run: Work.Run, _ items: ArraySlice<Item>, results: inout [PartitionResult?], poll: UInt64
    ) -> BatchAnomaly? {
        guard let epoch = slot?.epoch, epoch == run.epoch else { return .stray(held: slot?.epoch) }
        if slot!.resultPoll != poll {
            slot!.resultPoll = poll
            slot!.resultIndex = results.count
            results.append(PartitionResult(partition: run.partition, epoch: epoch, nextOffset: slot!.state.nextOffset))
        }
        let index = slot!.resultIndex
        var offset = run.firstOffset
        var anomaly: BatchAnomaly?
        do {
            for item in items {
                switch try slot!.state.apply(item, at: offset) {
                case .step(.command(let action)):
                    results[index]!.commands.append(ProducedCommand(inputOffset: offset, sensor: item.sensor, action: action))
                case .step(.droppedNoSetting):
                    results[index]!.droppedNoSetting += 1
                case .step, .duplicate:
                    break
                }
                offset += 1
            }
        } catch {
            anomaly = .gap(error)
        }
        results[index]!.nextOffset = slot!.state.nextOffset
        return anomaly
    }

    /// Whether a batch this worker cannot take is the first for its partition and epoch.
    private mutating func noteStray(_ stray: PartitionEpoch) -> Bool {
        // Bounded: a set this large means a confused coordinator; start over (one more line each).
        if strays.count >= 4096 { strays.removeAll() }
        return strays.insert(stray).inserted
    }

    /// The partitions of the checkpoint round in progress that it has not checkpointed yet.
    private var checkpointRound: [Int] = []

    /// Snapshots the partitions that changed since their last checkpoint, up to about
    /// `sensorBudget` sensors in one call (at least one partition). A round is the partitions
    /// that had changed when it began, each checkpointed once; it ends when they all are,
    /// however busy they stay meanwhile (under load every partition changes all the time, so
    /// "until none has changed" would never end, and the worker would checkpoint without a
    /// pause). Returns whether the round goes on. The budget keeps one poll cycle short with
    /// millions of sensors, so the worker's polls (its heartbeats) keep coming while it
    /// checkpoints.
    @discardableResult
    public mutating func checkpointChanged(sensorBudget: Int = .max) -> Bool {
        if checkpointRound.isEmpty {
            checkpointRound = partitions.keys.sorted().filter { partitions[$0]!.checkpointed != partitions[$0]!.state.nextOffset }
        }
        var spent = 0
        var taken = 0
        var done = 0
        for partition in checkpointRound {
            // Moved away, or already checkpointed (a revocation) since the round began.
            guard let owned = partitions[partition], owned.checkpointed != owned.state.nextOffset else {
                done += 1
                continue
            }
            if owned.state.sensors.count > ClusterProtocol.maximumPartitionSensors {
                anomalies.append("partition \(partition) holds \(owned.state.sensors.count) sensors, more than a checkpoint can carry (\(ClusterProtocol.maximumPartitionSensors)); it is not checkpointed: create the data directory with more partitions")
                done += 1
                continue
            }
            if taken > 0, spent + owned.state.sensors.count > sensorBudget { break }
            checkpoints[partition] = Checkpoint(partition: UInt32(partition), epoch: owned.epoch, nextOffset: owned.state.nextOffset, state: CheckpointCodec.encode(owned.state))
            partitions[partition]!.checkpointed = owned.state.nextOffset
            spent += owned.state.sensors.count
            taken += 1
            done += 1
        }
        checkpointRound.removeFirst(done)
        return !checkpointRound.isEmpty
    }

    /// Everything owed to the coordinator since the last poll.
    public mutating func takePoll(worker: String, incarnation: UInt64) -> Poll {
        defer {
            pollNumber += 1
            results.removeAll(keepingCapacity: true)
            checkpoints.removeAll(keepingCapacity: true)
            released.removeAll()
            unrestored.removeAll()
            anomalies.removeAll()
        }
        return Poll(
            worker: worker, incarnation: incarnation,
            results: results.compactMap(\.self),
            checkpoints: checkpoints.keys.sorted().map { checkpoints[$0]! },
            released: released,
            unrestored: unrestored
        )
    }

    /// Drops every partition: the coordinator fenced this incarnation off.
    public mutating func reset() {
        self = WorkerEngine()
    }

    /// The anomalies noted since the last call (or poll), each once.
    public mutating func takeAnomalies() -> [String] {
        defer { anomalies.removeAll() }
        return anomalies
    }
}
