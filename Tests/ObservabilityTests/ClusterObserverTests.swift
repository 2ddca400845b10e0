@testable import Observability
import Testing
import Wire

/// The dashboard's history, timeline and lag ages, made from successive status reports.
@Suite struct ClusterObserverTests {
    let w1 = Fixture.worker("w1", [0, 1])
    let w2 = Fixture.worker("w2", [2, 3])

    @Test func firstReportListsTheMembersAndHasNoRateYet() {
        var observer = ClusterObserver()
        let events = observer.observe(Fixture.report([w1, w2], partitions: 4), now: 1000, refused: 0)
        #expect(events.map(\.kind) == [.joined, .joined])
        #expect(events.map(\.worker) == ["w1", "w2"])
        #expect(events.map(\.partitions) == [2, 2])
        #expect(observer.history.isEmpty)
        #expect(observer.events == events)
    }

    @Test func pointsAreRatesPerSecondBetweenReports() throws {
        var observer = ClusterObserver()
        observer.observe(Fixture.report([w1, w2], partitions: 4, counters: Fixture.counters { $0.accepted = 1000; $0.processed = 900; $0.commands = 10 }),
                         now: 10_000, refused: 4)
        let ingest = LatencyWindow.Summary(count: 5, p50: 1.5, p99: 4, max: 5)
        observer.observe(Fixture.report([w1, w2], partitions: 4, counters: Fixture.counters { $0.accepted = 1500; $0.processed = 1300; $0.commands = 30 },
                                        offsets: [0: (20, 15, 0), 3: (7, 0, 0)]),
                         now: 10_500, refused: 14, ingest: ingest)
        let point = try #require(observer.history.last)
        #expect(point.timeMilliseconds == 10_500)
        #expect(point.acceptedPerSecond == 1000)
        #expect(point.processedPerSecond == 800)
        #expect(point.commandsPerSecond == 40)
        #expect(point.refusedPerSecond == 20)
        #expect(point.lag == 12)
        #expect(point.workers == 2)
        #expect(point.ingest == ingest)
        #expect(point.readingToCommand == nil)

        // Counters from a restarted coordinator are lower: a rate of 0, not a huge number.
        observer.observe(Fixture.report([w1, w2], partitions: 4, counters: Fixture.counters { $0.accepted = 10 }), now: 11_500, refused: 14)
        #expect(observer.history.last?.acceptedPerSecond == 0)
    }

    @Test func historyIsBoundedToTheLatestPointsInOrder() {
        var observer = ClusterObserver()
        let reports = ClusterObserver.historyCapacity + 50
        for i in 0..<reports {
            observer.observe(Fixture.report([w1, w2], partitions: 4, counters: Fixture.counters { $0.accepted = UInt64(i) * 100 }),
                             now: Int64(i) * 1000, refused: 0)
        }
        let times = observer.history.map(\.timeMilliseconds)
        #expect(times.count == ClusterObserver.historyCapacity)
        #expect(times.last == Int64(reports - 1) * 1000, "the newest point is kept")
        #expect(times.first == Int64(reports - ClusterObserver.historyCapacity) * 1000, "the oldest are dropped")
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 + 1000 == $1 }, "in order, none missing")
        #expect(observer.history.allSatisfy { $0.acceptedPerSecond == 100 })
    }

    @Test func timelineIsBoundedToTheLatestEventsInOrder() {
        var observer = ClusterObserver()
        // A third worker joins and leaves again and again: two events per pair of reports.
        for i in 0..<300 {
            let w3 = Fixture.worker("w3", incarnation: UInt64(i / 2 + 1), [])
            observer.observe(Fixture.report(i % 2 == 0 ? [w1, w2, w3] : [w1, w2], partitions: 4), now: Int64(i) * 1000, refused: 0)
        }
        let events = observer.events
        #expect(events.count == ClusterObserver.eventCapacity)
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.timeMilliseconds <= $1.timeMilliseconds })
        #expect(events.last?.timeMilliseconds == 299_000)
        #expect(events.last?.kind == .left)
        #expect(events.first!.timeMilliseconds > 0, "the first reports' events were dropped")
    }

    @Test func aLostWorkerIsAFailoverNamingWhereItsPartitionsWent() throws {
        var observer = ClusterObserver()
        observer.observe(Fixture.report([w1, w2], partitions: 4), now: 0, refused: 0)
        let events = observer.observe(Fixture.report([Fixture.worker("w1", [0, 1, 2, 3])], partitions: 4,
                                                     counters: Fixture.counters { $0.workersLost = 1 }), now: 1000, refused: 0)
        let failover = try #require(events.first)
        #expect(events.count == 1)
        #expect(failover.kind == .failover)
        #expect(failover.worker == "w2")
        #expect(failover.partitions == 2)
        #expect(failover.detail == "w2 lost, 2 partitions fail over: partitions to w1 (2)")
    }

    @Test func partitionsWithoutANewOwnerAreNamedUnassigned() {
        var observer = ClusterObserver()
        observer.observe(Fixture.report([w1], partitions: 2), now: 0, refused: 0)
        let events = observer.observe(Fixture.report([], partitions: 2, counters: Fixture.counters { $0.workersLost = 1 }), now: 1000, refused: 0)
        #expect(events.map(\.kind) == [.failover])
        #expect(events.first?.detail.hasSuffix("partitions to 2 unassigned") == true)
    }

    @Test func aGracefulLeaveIsNoFailover() {
        var observer = ClusterObserver()
        observer.observe(Fixture.report([w1, w2], partitions: 4), now: 0, refused: 0)
        let events = observer.observe(Fixture.report([Fixture.worker("w1", [0, 1, 2, 3])], partitions: 4), now: 1000, refused: 0)
        #expect(events.map(\.kind) == [.left])
        #expect(events.first?.detail == "w2 left: partitions to w1 (2)")
    }

    @Test func aRejoinedWorkerIsANewIncarnation() {
        var observer = ClusterObserver()
        observer.observe(Fixture.report([w1, w2], partitions: 4), now: 0, refused: 0)
        let events = observer.observe(Fixture.report([w1, Fixture.worker("w2", incarnation: 2, [2, 3])], partitions: 4,
                                                     counters: Fixture.counters { $0.workersLost = 1 }), now: 1000, refused: 0)
        #expect(events.map(\.kind) == [.failover, .joined])
        #expect(events.map(\.worker) == ["w2", "w2"])
    }

    @Test func aMoveBetweenLiveWorkersIsAHandover() {
        var observer = ClusterObserver()
        observer.observe(Fixture.report([Fixture.worker("w1", [0, 1, 2, 3])], partitions: 4), now: 0, refused: 0)
        let events = observer.observe(Fixture.report([Fixture.worker("w1", [0, 1]), Fixture.worker("w2", [2, 3])], partitions: 4), now: 1000, refused: 0)
        #expect(events.map(\.kind) == [.joined, .handover])
        let handover = events[1]
        #expect(handover.worker == "w1")
        #expect(handover.partitions == 2)
        #expect(handover.detail == "handover w1 → w2: 2 partitions")
    }

    @Test func fencingIsOnTheTimeline() {
        var observer = ClusterObserver()
        observer.observe(Fixture.report([w1, w2], partitions: 4, counters: Fixture.counters { $0.fenced = 1 }), now: 0, refused: 0)
        let events = observer.observe(Fixture.report([w1, w2], partitions: 4, counters: Fixture.counters { $0.fenced = 4 }), now: 1000, refused: 0)
        #expect(events.map(\.kind) == [.fenced])
        #expect(events.first?.detail.hasPrefix("3 results") == true)
        #expect(observer.observe(Fixture.report([w1, w2], partitions: 4, counters: Fixture.counters { $0.fenced = 4 }), now: 2000, refused: 0).isEmpty,
                "nothing new, no event")
    }

    @Test func lagAgeIsHowLongTheOldestUnprocessedItemWaited() {
        var observer = ClusterObserver()
        #expect(observer.lagAges(now: 0).isEmpty)
        // Partition 0: items up to 10 at t=0, up to 20 at t=1 s; partition 1 idle.
        observer.observe(Fixture.report([w1], partitions: 2, offsets: [0: (10, 0, 0)]), now: 0, refused: 0)
        observer.observe(Fixture.report([w1], partitions: 2, offsets: [0: (20, 5, 0)]), now: 1000, refused: 0)
        #expect(observer.lagAges(now: 3000) == [3, 0], "item 6 arrived by t=0")
        observer.observe(Fixture.report([w1], partitions: 2, offsets: [0: (20, 15, 0)]), now: 4000, refused: 0)
        #expect(observer.lagAges(now: 4000) == [3, 0], "item 16 arrived by t=1 s")
        observer.observe(Fixture.report([w1], partitions: 2, offsets: [0: (20, 20, 0)]), now: 5000, refused: 0)
        #expect(observer.lagAges(now: 5000) == [0, 0], "nothing waits")
    }
}

@Suite struct ControlHistoryTests {
    @Test func keepsTheLatestReportsInOrder() {
        var history = ControlHistory()
        let total = ControlHistory.capacity + 25
        for i in 0..<total { history.append(Fixture.control(at: Double(i), sensors: [(1, 21, true)])) }
        let seconds = history.reports.map(\.simulatedSeconds)
        #expect(seconds.count == ControlHistory.capacity)
        #expect(seconds.first == Double(total - ControlHistory.capacity))
        #expect(seconds.last == Double(total - 1))
        #expect(zip(seconds, seconds.dropFirst()).allSatisfy { $0 + 1 == $1 })
    }
}
