import Foundation
import Histogram
import Load
import Testing

@Suite("Bench report")
struct BenchReportTests {
    static let plan = BenchPlan(
        ingest: "tcp://127.0.0.1:7600", publish: "tcp://127.0.0.1:7601", admin: "tcp://127.0.0.1:7603", sensors: 200,
        readings: 5000, duration: nil, rate: nil, format: .binary, batch: 1000, connections: 2)

    /// 5,000 sent, 4,990 accepted in 2.5 s, all processed after 4 s; latencies nine of 100 µs
    /// and one of 1,000; one request round trip of 50 µs.
    static func report() -> BenchReport {
        var report = BenchReport(plan: plan)
        report.sent = 5000
        report.accepted = 4990
        report.rejected = 10
        report.refusedRequests = 3
        report.acceptedSeconds = 2.5
        report.endToEndSeconds = 4
        for _ in 0..<9 { report.latency.record(100) }
        report.latency.record(1000)
        report.requests.record(50)
        report.commandsReceived = 4990
        report.feedSeconds = 5
        report.feedComplete = true
        return report
    }

    @Test func jsonHasEveryFigureInItsPlace() throws {
        #expect(Self.report().json() == """
            {"sensors":200,"format":"binary","batch":1000,"connections":2,"rate":null,"readings":5000,"duration_s":null,\
            "sent":5000,"accepted":4990,"rejected":10,"refused_requests":3,"accepted_seconds":2.5,"accepted_per_second":1996,\
            "end_to_end_seconds":4.0,"end_to_end_per_second":1248,\
            "latency_us":{"p50":100,"p90":100,"p99":1000,"p99_9":1000,"max":1000,"count":10},\
            "request_us":{"p50":50,"p90":50,"p99":50,"p99_9":50,"max":50,"count":1},\
            "commands_expected":4990,"commands_received":4990,"feed_seconds":5.0,"feed_per_second":998,"feed_gaps":0,\
            "feed_resynchronized":0}
            """)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(Self.report().json().utf8)) as? [String: Any])
        #expect(parsed.count == 23)
    }

    @Test func emptyHistogramsAndAStallAreReportedAsSuch() throws {
        var report = BenchReport(plan: Self.plan)
        report.sent = 10
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        #expect(json["end_to_end_seconds"] is NSNull && json["end_to_end_per_second"] is NSNull)
        #expect((json["latency_us"] as? [String: Int]) == ["p50": 0, "p90": 0, "p99": 0, "p99_9": 0, "max": 0, "count": 0])
        #expect(json["accepted_per_second"] as? Int == 0 && json["feed_per_second"] as? Int == 0)
        let table = report.table()
        #expect(table.contains("end-to-end  unknown: processing stalled"))
        #expect(table.contains("            no samples"))
        #expect(table.contains("feed        0 of 0 commands received; stopped waiting for the rest: latency leaves them out"))
    }

    @Test func tableRowsReadAsSentences() {
        let lines = Self.report().table().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines == [
            "bench: 200 sensors, binary requests of 1000 items, 2 connections, as fast as possible, 5,000 readings",
            "",
            "items       sent 5,000  accepted 4,990  rejected 10  refused requests (overloaded) 3",
            "accepted    1,996 items/s  (2.5 s from the first request to the last reply)",
            "end-to-end  1,248 items/s  (4.0 s until status showed processed == accepted)",
            "latency     reading sent -> its command received, microseconds, 10 samples",
            "            p50 100  p90 100  p99 1,000  p99.9 1,000  max 1,000",
            "requests    request sent -> reply received, microseconds, 1 requests",
            "            p50 50  p90 50  p99 50  p99.9 50  max 50",
            "feed        4,990 of 4,990 commands received, the last after 5.0 s (998 commands/s)",
        ])
    }

    @Test func pacedDurationRunsAndLostFeedMessagesAreNamed() {
        var plan = Self.plan
        plan.readings = nil
        plan.duration = 2.5
        plan.rate = 12_345
        plan.format = .json
        var report = BenchReport(plan: plan)
        report.accepted = 100
        report.commandsReceived = 90
        report.feedSeconds = 1
        report.feedGaps = 10
        report.resynchronized = 4
        let table = report.table()
        #expect(table.hasPrefix("bench: 200 sensors, json requests of 1000 items, 2 connections, paced at 12,345 items/s, 2.5 s\n"))
        #expect(table.hasSuffix("feed        90 of 100 commands received, the last after 1.0 s (90 commands/s); 10 lost by the PUB feed (4 sensors' counts resynchronized)"))
        #expect(report.json().contains(#""rate":12345.0,"readings":null,"duration_s":2.5,"#))
    }

    @Test func numbersAreGroupedAndRounded() {
        #expect(BenchReport.grouped(0) == "0")
        #expect(BenchReport.grouped(999.4) == "999")
        #expect(BenchReport.grouped(1000) == "1,000")
        #expect(BenchReport.grouped(1_234_567.8) == "1,234,568")
        #expect(BenchReport.grouped(-5) == "0")
        #expect(BenchReport.round(1.23456, 3) == 1.235)
        #expect(BenchPlan.defaultBatch(format: .binary, rate: nil, connections: 2) == 1000)
        #expect(BenchPlan.defaultBatch(format: .json, rate: nil, connections: 2) == 200)
        #expect(BenchPlan.defaultBatch(format: .binary, rate: 10_000, connections: 2) == 50)
        #expect(BenchPlan.defaultBatch(format: .binary, rate: 10, connections: 4) == 1)
    }
}
