import Foundation
@testable import Observability
@testable import ObservabilityHTTP
import Testing
import Wire

/// The JSON the dashboard page reads (`snapshot` and `event` of `/api/events`, `/api/history`,
/// `/api/control`), and the readiness decision behind `/readyz`.
@Suite struct DashboardJSONTests {
    static func object(_ value: some Encodable) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try #require(JSONSerialization.jsonObject(with: encoder.encode(value)) as? [String: Any])
    }

    /// The property names the page's script reads through a variable (`snap.lags`, ...).
    static func read(through variable: String) -> Set<String> {
        let html = DashboardPage.html
        let pattern = try! Regex("\\b\(variable)\\.([a-z_][a-z0-9_]*)")
        return Set(html.matches(of: pattern).compactMap { $0.output[1].substring.map(String.init) })
    }

    static let snapshot: DashboardSnapshot = {
        var report = Fixture.report(
            [Fixture.worker("w1", [0, 1]), Fixture.worker("w2", [2], leaving: true), Fixture.worker("w3", [], heard: 900)],
            partitions: 4, counters: Fixture.counters { $0.accepted = 9; $0.workersLost = 2; $0.partitionMoves = 5 },
            releasing: [1], offsets: [0: (5, 2, 0)], epochs: [2: 7])
        report.pauses = StatusReport.Pauses(count: 3, medianMilliseconds: 1.5, p99Milliseconds: 4, maxMilliseconds: 4.5)
        let point = ClusterObserver.Point(timeMilliseconds: 5000, acceptedPerSecond: 10, processedPerSecond: 9, commandsPerSecond: 1,
                                          refusedPerSecond: 0, lag: 3, workers: 3,
                                          ingest: LatencyWindow.Summary(count: 4, p50: 0.5, p99: 2, max: 3), readingToCommand: nil)
        return DashboardSnapshot(report: report, ready: false, now: 5000, lagAges: [1.26, 0, 0, 0], point: point,
                                 refused: ["overloaded": 2], rejected: ["invalid_value": 1], badFrames: ["ingest": 1])
    }()

    @Test func snapshotHasThePartitionMapInCompactArrays() throws {
        let s = Self.snapshot
        #expect(s.partitionCount == 4)
        #expect(s.owners == [0, 0, 1, -1], "the index of the owner in workers, -1 for none")
        #expect(s.states == "orou")
        #expect(s.epochs == [1, 1, 7, 1])
        #expect(s.lags == [3, 0, 0, 0])
        #expect(s.lagAges == [1.3, 0, 0, 0], "rounded to tenths")
        #expect(s.workers.map(\.state) == ["active", "leaving", "silent"], "silent: not heard for over 500 ms")
        #expect(s.workers.map(\.partitions) == [2, 1, 0])
    }

    @Test func snapshotJSONHasEveryKeyThePageReads() throws {
        let json = try Self.object(Self.snapshot)
        let wanted = Self.read(through: "snap")
        #expect(wanted.count >= 10, "the page reads \(wanted.sorted())")
        for key in wanted { #expect(json[key] != nil, "the page reads snap.\(key), the snapshot has no '\(key)'") }

        let workers = try #require(json["workers"] as? [[String: Any]])
        for key in Self.read(through: "wk") { #expect(workers[0][key] != nil, "the page reads wk.\(key)") }
        let pauses = try #require(json["pauses"] as? [String: Any])
        for key in Self.read(through: "ps") { #expect(pauses[key] != nil, "the page reads ps.\(key)") }
        let counters = try #require(json["counters"] as? [String: Any])
        for key in ["accepted", "processed", "commands", "workers_lost", "partition_moves", "fenced"] {
            #expect(counters[key] != nil, "the header shows counters.\(key)")
        }
        #expect(counters["workers_lost"] as? Int == 2)
        #expect(json["states"] as? String == "orou")
        #expect(json["owners"] as? [Int] == [0, 0, 1, -1])
        #expect((json["refused"] as? [String: Int]) == ["overloaded": 2])
        #expect((json["bad_frames"] as? [String: Int]) == ["ingest": 1])
    }

    @Test func pointJSONHasEveryKeyTheChartsRead() throws {
        let json = try Self.object(try #require(Self.snapshot.point))
        for key in Self.read(through: "x") { #expect(json[key] != nil, "the charts read x.\(key)") }
        #expect(json["t"] as? Int == 5000)
        let ingest = try #require(json["ingest"] as? [String: Any])
        #expect(ingest["p50"] as? Double == 0.5)
        #expect(ingest["p99"] as? Double == 2)
        #expect(json["reading_to_command"] == nil, "no window, no key: the page skips it")
    }

    @Test func eventAndHistoryJSONHaveWhatTheTimelineReads() throws {
        var observer = ClusterObserver()
        let event = try #require(observer.observe(Fixture.report([Fixture.worker("w1", [0])], partitions: 1), now: 42, refused: 0).first)
        let json = try Self.object(event)
        for key in Self.read(through: "e") { #expect(json[key] != nil, "the timeline reads e.\(key)") }
        #expect(json["kind"] as? String == "joined")
        #expect(json["t"] as? Int == 42)
        #expect(Set(Self.read(through: "h")) == ["points", "events"], "the page reads /api/history's points and events")
    }

    @Test func controlReportJSONHasWhatTheControlChartsRead() throws {
        let json = try Self.object(Fixture.control(at: 12, sensors: [(7, 21.2, true)]))
        // (r.textContent and r.className are the ready badge's, not a report's.)
        for key in Self.read(through: "last").union(Self.read(through: "r")).subtracting(["text", "class"]) {
            #expect(json[key] != nil, "the control charts read .\(key)")
        }
        for key in ["time_ms", "samples", "out_of_band", "out_of_band_time", "sensors", "heating"] { #expect(json[key] != nil, "\(key)") }
        let sample = try #require((json["samples"] as? [[String: Any]])?.first)
        for key in ["sensor", "temperature", "desired", "up", "down", "heating"] { #expect(sample[key] != nil, "samples[].\(key)") }
        #expect(sample["heating"] as? Bool == true)
    }

    @Test func readinessNeedsAWorkerEveryPartitionOwnedAndARunningCoordinator() {
        let all = Fixture.report([Fixture.worker("w1", [0, 1])], partitions: 2)
        #expect(isReady(all, running: true) == (true, "every partition owned, journal open"))
        #expect(isReady(all, running: false).ready == false)
        #expect(isReady(all, running: false).reason == "the coordinator is stopping")
        let none = Fixture.report([], partitions: 2)
        #expect(isReady(none, running: true) == (false, "no worker has joined"))
        let some = Fixture.report([Fixture.worker("w1", [0])], partitions: 3)
        #expect(isReady(some, running: true) == (false, "2 of 3 partitions have no owner"))
        let releasing = Fixture.report([Fixture.worker("w1", [0, 1])], partitions: 2, releasing: [1])
        #expect(isReady(releasing, running: true).ready, "a partition in handover still has its owner")
    }
}
