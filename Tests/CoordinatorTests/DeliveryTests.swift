import Cluster
import Control
import CoordinatorCore
import Storage
import Testing
import Wire

/// Which items a poll's reply carries (CoordinatorCore+Work.swift): only partitions with durable
/// items are looked at, served in turn under the reply's item budget, and a worker that comes
/// back under its name is sent its partitions' items again.
@Suite("Coordinator core: delivery of items to owners")
struct DeliveryTests {
    static let settings = CoreSettings(
        partitionCount: 2, heartbeatTimeout: 800_000_000, pollWait: 100_000_000,
        checkpointIntervalMilliseconds: 1000, maxBufferedItems: 1000, maxBatchItems: 10, firstIncarnation: 1
    )

    /// Worker "a" (connection 7) holds both partitions, and each partition has `perPartition`
    /// readings on disk (of one sensor each, so every item is valid for its partition).
    static func loaded(perPartition: Int) throws -> (core: CoordinatorCore, incarnation: UInt64) {
        var core = CoordinatorCore(settings: settings, stored: StoredState(checkpoints: [nil, nil]))
        guard case .reply(.welcome(let welcome)) = core.handle(.hello(Hello(worker: "a")), pipe: 7, now: 1) else { throw CancellationError() }
        let partitioner = core.partitioner
        let sensors = (0..<2).map { partition in SensorID((0..<1000).first { partitioner.partition(of: SensorID($0)) == partition }!) }
        let items = sensors.flatMap { sensor in (0..<perPartition).map { _ in Item.reading(sensor: sensor, temperature: 20) } }
        _ = core.admit(IngestRequest(items: items), now: 1)
        let write = core.startWrite()
        let (number, batch) = try #require(write)
        core.batchWritten(number, batch, report: WriteReport())
        return (core, welcome.incarnation)
    }

    static func work(_ outcome: PollOutcome) -> Work? {
        if case .reply(.work(let work)) = outcome { work } else { nil }
    }

    /// Results covering every item of `work` (readings without a setting cause no command).
    static func results(for work: Work) -> [PartitionResult] {
        work.batches.map { PartitionResult(partition: $0.partition, epoch: $0.epoch, nextOffset: $0.firstOffset + UInt64($0.items.count), droppedNoSetting: UInt32($0.items.count)) }
    }

    /// With more items waiting than a reply carries, a busy partition does not starve the
    /// others: the partition served goes to the back of the line.
    @Test func partitionsAreServedInTurnWhenTheBudgetRunsOut() throws {
        var (core, incarnation) = try Self.loaded(perPartition: 30)
        var served: [UInt32] = []
        var results: [PartitionResult] = []
        for step in 0..<6 {
            let workOutcome = core.handle(.poll(Poll(worker: "a", incarnation: incarnation, results: results)), pipe: 7, now: 2 + UInt64(step))
            let work = try #require(Self.work(workOutcome))
            #expect(work.items.count == 10, "each reply is filled up to the budget")
            served += work.batches.map(\.partition)
            results = Self.results(for: work)
        }
        #expect(served == [0, 1, 0, 1, 0, 1] || served == [1, 0, 1, 0, 1, 0], "served \(served)")
        #expect(core.logs.map(\.processed).reduce(0, +) == 50, "the results of five replies of ten: \(core.logs.map(\.processed))")
    }

    /// A partition whose items are all processed is not sent anything until more are written,
    /// and then it is.
    @Test func aPartitionIsSentItemsAgainWhenMoreAreWritten() throws {
        var (core, incarnation) = try Self.loaded(perPartition: 3)
        let firstOutcome = core.handle(.poll(Poll(worker: "a", incarnation: incarnation)), pipe: 7, now: 2)
        let first = try #require(Self.work(firstOutcome))
        #expect(first.items.count == 6)
        guard case .park = core.handle(.poll(Poll(worker: "a", incarnation: incarnation, results: Self.results(for: first))), pipe: 7, now: 3) else {
            Issue.record("everything is processed: the poll waits")
            return
        }
        let sensor = (0..<1000).map(SensorID.init).first { core.partitioner.partition(of: $0) == 1 }!
        _ = core.admit(IngestRequest(items: [.reading(sensor: sensor, temperature: 25)]), now: 4)
        let write = core.startWrite()
        let (number, batch) = try #require(write)
        core.batchWritten(number, batch, report: WriteReport())
        let answers = core.takeActions().compactMap { action -> Work? in
            if case .answer("a", .work(let work)) = action { work } else { nil }
        }
        #expect(answers.map(\.batches) == [[Batch(partition: 1, epoch: first.runs[0].epoch, firstOffset: 3, items: [.reading(sensor: sensor, temperature: 25)])]])
    }

    /// A worker whose connection was lost and that registers again under its name is assigned
    /// its partitions anew and sent their items from the start (no checkpoint was taken).
    @Test func aWorkerBackUnderItsNameIsSentItsPartitionsItemsAgain() throws {
        var (core, incarnation) = try Self.loaded(perPartition: 3)
        let firstOutcome = core.handle(.poll(Poll(worker: "a", incarnation: incarnation)), pipe: 7, now: 2)
        let first = try #require(Self.work(firstOutcome))
        #expect(first.items.count == 6)
        core.pipeRemoved(7, now: 3)
        guard case .reply(.welcome(let again)) = core.handle(.hello(Hello(worker: "a")), pipe: 8, now: 4) else {
            Issue.record("the name is free once its connection closed")
            return
        }
        let workOutcome = core.handle(.poll(Poll(worker: "a", incarnation: again.incarnation)), pipe: 8, now: 5)
        let work = try #require(Self.work(workOutcome))
        #expect(Set(work.assigns.map(\.partition)) == [0, 1])
        #expect(Set(work.batches.map(\.partition)) == [0, 1])
        #expect(work.batches.allSatisfy { $0.firstOffset == 0 && $0.items.count == 3 })
    }
}
