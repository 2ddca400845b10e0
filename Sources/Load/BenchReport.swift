import Foundation
public import Histogram
import Wire

/// The figures of one run, as a table or one JSON object.
public struct BenchReport: Sendable {
    public let plan: BenchPlan
    public var sent = 0
    public var accepted = 0
    public var rejected = 0
    public var refusedRequests = 0
    /// From the first request to the last reply.
    public var acceptedSeconds = 0.0
    /// From the first request until the coordinator's status showed every item processed.
    public var endToEndSeconds: Double?
    /// Reading sent to its command received, microseconds.
    public var latency = LatencyTracker.histogram()
    /// Request sent to reply received, microseconds.
    public var requests = LatencyTracker.histogram()
    public var commandsReceived = 0
    /// From the first request to the last command received.
    public var feedSeconds = 0.0
    /// Whether a command came for every accepted reading.
    public var feedComplete = false
    public var feedGaps: UInt64 = 0
    public var resynchronized = 0

    public init(plan: BenchPlan) { self.plan = plan }

    public var acceptedPerSecond: Double { acceptedSeconds > 0 ? Double(accepted) / acceptedSeconds : 0 }
    public var endToEndPerSecond: Double? { endToEndSeconds.map { $0 > 0 ? Double(accepted) / $0 : 0 } }

    public static let percentiles: [(name: String, label: String, value: Double)] = [
        ("p50", "p50", 50), ("p90", "p90", 90), ("p99", "p99", 99), ("p99_9", "p99.9", 99.9),
    ]

    public func json() -> String {
        var out = JSONWriter(capacity: 1024)
        out.beginObject()
        out.key("sensors"); out.value(plan.sensors)
        out.key("format"); out.value(plan.format.rawValue)
        out.key("batch"); out.value(plan.batch)
        out.key("connections"); out.value(plan.connections)
        out.key("rate"); if let rate = plan.rate { out.value(rate) } else { out.null() }
        out.key("readings"); if let readings = plan.readings { out.value(readings) } else { out.null() }
        out.key("duration_s"); if let duration = plan.duration { out.value(duration) } else { out.null() }
        out.key("sent"); out.value(sent)
        out.key("accepted"); out.value(accepted)
        out.key("rejected"); out.value(rejected)
        out.key("refused_requests"); out.value(refusedRequests)
        out.key("accepted_seconds"); out.value(Self.round(acceptedSeconds, 4))
        out.key("accepted_per_second"); out.value(Int(acceptedPerSecond.rounded()))
        out.key("end_to_end_seconds"); if let e2e = endToEndSeconds { out.value(Self.round(e2e, 4)) } else { out.null() }
        out.key("end_to_end_per_second"); if let rate = endToEndPerSecond { out.value(Int(rate.rounded())) } else { out.null() }
        for (name, histogram) in [("latency_us", latency), ("request_us", requests)] {
            out.key(name)
            out.beginObject()
            for percentile in Self.percentiles {
                out.key(percentile.name)
                out.value(histogram.totalCount > 0 ? histogram.valueAtPercentile(percentile.value) : 0)
            }
            out.key("max"); out.value(histogram.totalCount > 0 ? histogram.maxRecorded : 0)
            out.key("count"); out.value(histogram.totalCount)
            out.endObject()
        }
        out.key("commands_expected"); out.value(accepted)
        out.key("commands_received"); out.value(commandsReceived)
        out.key("feed_seconds"); out.value(Self.round(feedSeconds, 4))
        out.key("feed_per_second"); out.value(feedSeconds > 0 ? Int((Double(commandsReceived) / feedSeconds).rounded()) : 0)
        out.key("feed_gaps"); out.value(feedGaps)
        out.key("feed_resynchronized"); out.value(resynchronized)
        out.endObject()
        return String(decoding: out.bytes, as: UTF8.self)
    }

    public func table() -> String {
        var lines: [String] = []
        let pace = plan.rate.map { "paced at \(Self.grouped($0)) items/s" } ?? "as fast as possible"
        let amount = plan.readings.map { "\(Self.grouped(Double($0))) readings" } ?? "\(Self.round(plan.duration ?? 0, 3)) s"
        lines.append("bench: \(plan.sensors) sensors, \(plan.format.rawValue) requests of \(plan.batch) items, \(plan.connections) connections, \(pace), \(amount)")
        lines.append("")
        lines.append(Self.row("items", "sent \(Self.grouped(Double(sent)))  accepted \(Self.grouped(Double(accepted)))  rejected \(rejected)  refused requests (overloaded) \(refusedRequests)"))
        lines.append(Self.row("accepted", "\(Self.grouped(acceptedPerSecond)) items/s  (\(Self.round(acceptedSeconds, 3)) s from the first request to the last reply)"))
        if let e2e = endToEndSeconds, let rate = endToEndPerSecond {
            lines.append(Self.row("end-to-end", "\(Self.grouped(rate)) items/s  (\(Self.round(e2e, 3)) s until status showed processed == accepted)"))
        } else {
            lines.append(Self.row("end-to-end", "unknown: processing stalled"))
        }
        lines.append(Self.row("latency", "reading sent -> its command received, microseconds, \(Self.grouped(Double(latency.totalCount))) samples"))
        lines.append(Self.row("", Self.distribution(latency)))
        lines.append(Self.row("requests", "request sent -> reply received, microseconds, \(Self.grouped(Double(requests.totalCount))) requests"))
        lines.append(Self.row("", Self.distribution(requests)))
        var feed = "\(Self.grouped(Double(commandsReceived))) of \(Self.grouped(Double(accepted))) commands received"
        if feedSeconds > 0 {
            feed += ", the last after \(Self.round(feedSeconds, 3)) s (\(Self.grouped(Double(commandsReceived) / feedSeconds)) commands/s)"
        }
        if feedGaps > 0 { feed += "; \(Self.grouped(Double(feedGaps))) lost by the PUB feed (\(resynchronized) sensors' counts resynchronized)" }
        if !feedComplete, feedGaps == 0 { feed += "; stopped waiting for the rest: latency leaves them out" }
        lines.append(Self.row("feed", feed))
        return lines.joined(separator: "\n")
    }

    public static func distribution(_ histogram: Histogram<UInt64>) -> String {
        guard histogram.totalCount > 0 else { return "no samples" }
        let parts = percentiles.map { "\($0.label) \(grouped(Double(histogram.valueAtPercentile($0.value))))" }
        return (parts + ["max \(grouped(Double(histogram.maxRecorded)))"]).joined(separator: "  ")
    }

    public static func row(_ label: String, _ text: String) -> String {
        label.padding(toLength: 12, withPad: " ", startingAt: 0) + text
    }

    public static func round(_ value: Double, _ digits: Int) -> Double {
        let scale = pow(10, Double(digits))
        return (value * scale).rounded() / scale
    }

    /// `1234567.8` as `1,234,568` (for counts and rates, never negative).
    public static func grouped(_ value: Double) -> String {
        let digits = String(UInt64(max(0, value).rounded()))
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return out
    }
}
