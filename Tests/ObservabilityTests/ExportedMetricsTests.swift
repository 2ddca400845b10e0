import Foundation
import Observability
import Synchronization
import Testing
import Wire

/// What `GET /metrics` shows for the coordinator's status, refusals and timings, read back
/// through swift-prometheus' exporter. Serialized: they share the process's registry, and each
/// compares values before and after what it does.
@Suite(.serialized) struct ExportedMetricsTests {
    init() { Exposition.start() }

    @Test func countersAdvanceByWhatTheReportGrew() throws {
        let metrics = StatusMetrics()
        let names: [(String, [String: String], KeyPath<Counters, UInt64>)] = [
            (MetricName.itemsAccepted, [:], \.accepted), (MetricName.itemsProcessed, [:], \.processed),
            (MetricName.itemsReplayed, [:], \.replayed), (MetricName.commands, [:], \.commands),
            (MetricName.duplicateCommandsSuppressed, [:], \.duplicateCommandsSuppressed),
            (MetricName.duplicateRequests, [:], \.duplicateRequests), (MetricName.fenced, [:], \.fenced),
            (MetricName.failovers, [:], \.workersLost), (MetricName.partitionMoves, [:], \.partitionMoves),
            (MetricName.badFrames, ["socket": "cluster"], \.malformedFrames), (MetricName.checkpoints, [:], \.checkpoints),
            (MetricName.fsyncs, [:], \.fsyncs),
        ]
        let before = try Exposition.scrape()
        var counters = Counters()
        for (index, (_, _, path)) in names.enumerated() {
            let writable = path as! WritableKeyPath<Counters, UInt64>
            counters[keyPath: writable] = UInt64(10 * (index + 1))
        }
        metrics.export(Fixture.report([], partitions: 1, counters: counters), lagAges: [], journalBytes: nil, ready: false)
        let first = try Exposition.scrape()
        for (index, (name, labels, _)) in names.enumerated() {
            #expect(first.types[name] == "counter", "\(name) is exported as \(first.types[name] ?? "nothing")")
            let delta = (first.value(name, labels) ?? -1) - (before.value(name, labels) ?? 0)
            #expect(delta == Double(10 * (index + 1)), "\(name)\(labels) moved by \(delta)")
        }

        // The next report: each counter moves by what it grew.
        counters.accepted += 5
        counters.workersLost += 1
        metrics.export(Fixture.report([], partitions: 1, counters: counters), lagAges: [], journalBytes: nil, ready: false)
        let second = try Exposition.scrape()
        #expect(second.value(MetricName.itemsAccepted)! - first.value(MetricName.itemsAccepted)! == 5)
        #expect(second.value(MetricName.failovers)! - first.value(MetricName.failovers)! == 1)
        #expect(second.value(MetricName.itemsProcessed) == first.value(MetricName.itemsProcessed), "unchanged counters stay")

        // A report from a restarted coordinator (counters lower): nothing goes backwards, and
        // growth from there counts again.
        var restarted = Counters()
        restarted.accepted = 3
        metrics.export(Fixture.report([], partitions: 1, counters: restarted), lagAges: [], journalBytes: nil, ready: false)
        let third = try Exposition.scrape()
        #expect(third.value(MetricName.itemsAccepted) == second.value(MetricName.itemsAccepted))
        restarted.accepted = 10
        metrics.export(Fixture.report([], partitions: 1, counters: restarted), lagAges: [], journalBytes: nil, ready: false)
        #expect(try Exposition.scrape().value(MetricName.itemsAccepted)! - third.value(MetricName.itemsAccepted)! == 7)
    }

    @Test func gaugesDescribeMembersPartitionsLagAndCheckpoints() throws {
        let metrics = StatusMetrics()
        let report = Fixture.report(
            [Fixture.worker("gauge-w1", [0, 1]), Fixture.worker("gauge-w2", [2], leaving: true)], partitions: 4,
            counters: Fixture.counters { $0.journalSegments = 3; $0.commandLogEnd = 77 },
            releasing: [1], offsets: [0: (50, 40, 30), 2: (10, 10, 5)], checkpointAges: [0: 2500, 1: 400])
        metrics.export(report, lagAges: [1.5, 0, 0, 0], journalBytes: 8192, ready: false)
        let s = try Exposition.scrape(metrics.partitionFamilies())
        #expect(s.types[MetricName.members] == "gauge")
        #expect(s.value(MetricName.members, ["state": "active"]) == 1)
        #expect(s.value(MetricName.members, ["state": "leaving"]) == 1)
        #expect(s.value(MetricName.partitions, ["state": "owned"]) == 2)
        #expect(s.value(MetricName.partitions, ["state": "releasing"]) == 1)
        #expect(s.value(MetricName.partitions, ["state": "unassigned"]) == 1)
        #expect(s.value(MetricName.partitionsPerWorker, ["worker": "gauge-w1"]) == 2)
        #expect(s.value(MetricName.partitionsPerWorker, ["worker": "gauge-w2"]) == 1)
        #expect(s.value(MetricName.partitionLagItems, ["partition": "0"]) == 10)
        #expect(s.value(MetricName.partitionLagItems, ["partition": "2"]) == 0)
        #expect(s.value(MetricName.partitionLagSeconds, ["partition": "0"]) == 1.5)
        #expect(s.types[MetricName.partitionLagItems] == "gauge")
        #expect(s.types[MetricName.partitionLagSeconds] == "gauge")
        #expect(s.all(MetricName.partitionLagItems).map { $0.labels["partition"] } == ["0", "1", "2", "3"], "one lag gauge per partition")
        #expect(s.all(MetricName.partitionLagSeconds).count == 4)
        #expect(s.value(MetricName.bufferedItems) == 25, "head - checkpoint, summed: (50-30) + (10-5)")
        #expect(s.value(MetricName.journalBytes) == 8192)
        #expect(s.value(MetricName.journalSegments) == 3)
        #expect(s.value(MetricName.checkpointAgeSeconds) == 2.5, "the oldest newest-checkpoint")
        #expect(s.value(MetricName.commandLogEnd) == 77)
        #expect(s.value(MetricName.ready) == 0)

        // gauge-w2 left: its series goes away rather than staying at its last value.
        metrics.export(Fixture.report([Fixture.worker("gauge-w1", [0, 1, 2, 3])], partitions: 4), lagAges: [], journalBytes: nil, ready: true)
        let after = try Exposition.scrape()
        #expect(after.value(MetricName.partitionsPerWorker, ["worker": "gauge-w1"]) == 4)
        #expect(after.value(MetricName.partitionsPerWorker, ["worker": "gauge-w2"]) == nil)
        #expect(after.value(MetricName.members, ["state": "leaving"]) == 0)
        #expect(after.value(MetricName.ready) == 1)
        #expect(try Exposition.scrape(metrics.partitionFamilies()).value(MetricName.partitionLagItems, ["partition": "0"]) == 0,
                "lag follows the latest report")
    }

    @Test func refusalsAreCountedByReasonAndSocket() throws {
        let before = try Exposition.scrape()
        let tally = Refusals.snapshot()
        Refusals.requestRefused(.tooLarge)
        Refusals.requestRefused(.tooLarge)
        Refusals.requestRefused(nil)
        Refusals.itemsRejected([
            Rejection(index: 0, error: "item 0: unknown field \"colour\""),
            Rejection(index: 1, error: "item 1: missing \"sensor\""),
            Rejection(index: 2, error: "item 2: temperature must be finite"),
            Rejection(index: 3, error: "item 3: temperature must be finite"),
            Rejection(index: 4, error: "item 4: an array where an object goes"),
        ])
        Refusals.itemsRejected([])
        Refusals.badFrame(socket: "admin")
        let after = try Exposition.scrape()
        func delta(_ name: String, _ labels: [String: String]) -> Double { (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0) }
        #expect(after.types[MetricName.requestsRefused] == "counter")
        #expect(delta(MetricName.requestsRefused, ["reason": "too_large"]) == 2)
        #expect(delta(MetricName.requestsRefused, ["reason": "unknown"]) == 1)
        #expect(delta(MetricName.itemsRejected, ["reason": "unknown_field"]) == 1)
        #expect(delta(MetricName.itemsRejected, ["reason": "missing_field"]) == 1)
        #expect(delta(MetricName.itemsRejected, ["reason": "invalid_value"]) == 2)
        #expect(delta(MetricName.itemsRejected, ["reason": "invalid_item"]) == 1)
        #expect(delta(MetricName.badFrames, ["socket": "admin"]) == 1)
        // The dashboard's tally counts the same.
        let now = Refusals.snapshot()
        #expect(now.refused["too_large", default: 0] - tally.refused["too_large", default: 0] == 2)
        #expect(now.rejected["invalid_value", default: 0] - tally.rejected["invalid_value", default: 0] == 2)
        #expect(now.badFrames["admin", default: 0] - tally.badFrames["admin", default: 0] == 1)
    }

    @Test func timingIsAHistogramInSecondsAndAWindowOfQuantiles() throws {
        let timing = Timing("thermoshard_test_operation_seconds")
        timing.record(nanoseconds: 200_000)        // 0.2 ms
        timing.record(nanoseconds: 3_000_000)      // 3 ms
        timing.record(nanoseconds: 2_000_000_000)  // 2 s
        let s = try Exposition.scrape()
        let name = "thermoshard_test_operation_seconds"
        #expect(s.types[name] == "histogram")
        #expect(s.value(name + "_count") == 3)
        #expect(abs((s.value(name + "_sum") ?? 0) - 2.0032) < 1e-9)
        let buckets = Dictionary(s.all(name + "_bucket").compactMap { b in b.labels["le"].map { (Double($0)!, b.value) } }, uniquingKeysWith: { a, _ in a })
        #expect(buckets.count == MetricName.durationBuckets.count + 1, "the configured buckets and +Inf")
        #expect(buckets[0.0001] == 0)
        #expect(buckets[0.00025] == 1)
        #expect(buckets[0.005] == 2)
        #expect(buckets[1] == 2)
        #expect(buckets[2.5] == 3)
        #expect(buckets[.infinity] == 3)

        let window = try #require(timing.takeWindow())
        #expect(window.count == 3)
        #expect(window.max == 2000)
        #expect(window.p50 >= 3 && window.p50 <= 3 * 1.19, "p50 \(window.p50) ms: within a bucket (19%) above 3 ms")
        #expect(window.p99 == 2000)
        #expect(timing.takeWindow() == nil, "taking the window starts a new, empty one")
    }

    @Test func samplerServesSnapshotsEventsAndHistory() async throws {
        let feed = Feed([
            Fixture.report([Fixture.worker("s-w1", [0, 1]), Fixture.worker("s-w2", [2, 3])], partitions: 4,
                           counters: Fixture.counters { $0.accepted = 100 }),
            Fixture.report([Fixture.worker("s-w1", [0, 1, 2, 3])], partitions: 4,
                           counters: Fixture.counters { $0.accepted = 300; $0.workersLost = 1 }),
        ])
        let sampler = StatusSampler(journalDirectory: nil) { (report: feed.next(), running: true) }
        let decoder = JSONDecoder()
        let (firstJSON, firstEvents) = try #require(await sampler.sample())
        let first = try decoder.decode(DashboardSnapshot.self, from: Data(firstJSON))
        #expect(first.workers.map(\.id) == ["s-w1", "s-w2"])
        #expect(first.ready)
        #expect(first.point == nil, "one report gives no rate yet")
        #expect(firstEvents.map(\.kind) == [.joined, .joined])

        try await Task.sleep(for: .milliseconds(20))
        let (secondJSON, secondEvents) = try #require(await sampler.sample())
        let second = try decoder.decode(DashboardSnapshot.self, from: Data(secondJSON))
        #expect(second.owners == [0, 0, 0, 0])
        #expect(try #require(second.point).acceptedPerSecond > 0)
        #expect(secondEvents.map(\.kind) == [.failover])
        #expect(secondEvents.first?.worker == "s-w2")

        let history = try JSONSerialization.jsonObject(with: Data(await sampler.history())) as? [String: Any]
        #expect((history?["points"] as? [Any])?.count == 1)
        #expect(((history?["events"] as? [[String: Any]]) ?? []).map { $0["kind"] as? String } == ["joined", "joined", "failover"])
        // Sampling moved the metrics too.
        #expect(try Exposition.scrape().value(MetricName.partitionsPerWorker, ["worker": "s-w1"]) == 4)
    }
}

/// Successive status reports, the last one repeated.
final class Feed: Sendable {
    private let reports: Mutex<[StatusReport]>
    init(_ reports: [StatusReport]) { self.reports = Mutex(reports) }
    func next() -> StatusReport { reports.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] } }
}
