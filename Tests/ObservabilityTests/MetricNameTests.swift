import Foundation
import Observability
import Testing

/// Every name in ``MetricName``, by kind. A name added there and not here fails
/// `everyNameIsListed` (which counts the `static let`s in the source).
enum Catalogue {
    static let counters = [
        MetricName.itemsAccepted, MetricName.itemsRejected, MetricName.requestsRefused, MetricName.itemsProcessed,
        MetricName.itemsReplayed, MetricName.commands, MetricName.duplicateCommandsSuppressed, MetricName.duplicateRequests,
        MetricName.droppedNoSetting, MetricName.fenced, MetricName.failovers, MetricName.handovers, MetricName.partitionMoves,
        MetricName.badFrames, MetricName.checkpoints, MetricName.badCheckpoints, MetricName.fsyncs,
        MetricName.workerItems, MetricName.workerCommands, MetricName.workerCheckpoints, MetricName.workerAssignments,
        MetricName.workerRevocations, MetricName.workerFenced,
        MetricName.simulatorReadings, MetricName.simulatorCommands,
    ]
    static let gauges = [
        MetricName.members, MetricName.partitionsPerWorker, MetricName.partitions, MetricName.partitionLagItems,
        MetricName.partitionLagSeconds, MetricName.bufferedItems, MetricName.journalBytes, MetricName.journalSegments,
        MetricName.checkpointAgeSeconds, MetricName.commandLogEnd, MetricName.ready,
        MetricName.workerPartitions, MetricName.workerRegistered,
        MetricName.simulatorHeating, MetricName.simulatorOutOfBand, MetricName.simulatorMeanError,
    ]
    /// Durations (swift-metrics timers, exported as histograms in seconds).
    static let durations = [
        MetricName.ingestRequest, MetricName.groupCommit, MetricName.fsync, MetricName.readingToCommand,
        MetricName.handoverPause, MetricName.failoverPause, MetricName.checkpointWrite, MetricName.workerPoll,
        MetricName.simulatorSend,
    ]
    static let sizes = [MetricName.checkpointSize]
    static var all: [String] { counters + gauges + durations + sizes }
}

/// The repository's root, from this file's path.
func repositoryFile(_ relative: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
}

@Suite struct MetricNameTests {
    @Test func everyNameIsListed() throws {
        let source = try repositoryFile("Sources/Observability/MetricName.swift")
        let declared = source.split(separator: "\n").filter { $0.contains("public static let") && $0.contains("= \"thermoshard_") }.count
        #expect(declared == Catalogue.all.count, "MetricName declares \(declared) names, the catalogue lists \(Catalogue.all.count)")
        #expect(Set(Catalogue.all).count == Catalogue.all.count, "a name is used twice")
    }

    @Test(arguments: Catalogue.all) func validPrometheusName(_ name: String) {
        #expect(name.wholeMatch(of: /thermoshard_[a-z][a-z0-9_]*[a-z0-9]/) != nil, "\(name)")
        #expect(!name.contains("__"))
    }

    @Test func kindsFollowTheConventions() {
        for name in Catalogue.counters { #expect(name.hasSuffix("_total"), "counter \(name)") }
        for name in Catalogue.gauges + Catalogue.durations + Catalogue.sizes { #expect(!name.hasSuffix("_total"), "\(name) is no counter") }
        for name in Catalogue.durations { #expect(name.hasSuffix("_seconds"), "duration \(name) in seconds") }
        for name in Catalogue.sizes { #expect(name.hasSuffix("_bytes"), "size \(name) in bytes") }
    }

    @Test func bucketsAscendAndSpanMicrosecondsToSeconds() {
        let durations = MetricName.durationBuckets
        #expect(zip(durations, durations.dropFirst()).allSatisfy { $0 < $1 })
        #expect(durations.first! <= .microseconds(100))
        #expect(durations.last! >= .seconds(5), "a failover after the heartbeat timeout must fit")
        let sizes = MetricName.sizeBuckets
        #expect(zip(sizes, sizes.dropFirst()).allSatisfy { $0 < $1 })
    }

    /// docs/deploy.md lists the names operators write queries against: each must be emitted.
    @Test func namesInDeployDocumentationExist() throws {
        let doc = try repositoryFile("docs/deploy.md")
        let start = try #require(doc.range(of: "Metric names (prefix `thermoshard_`)"))
        let paragraph = doc[start.upperBound...].split(separator: "\n\n").first ?? ""
        let names = paragraph.matches(of: /`([a-z_]+)(\{[a-z,]+\})?`/).map { "thermoshard_" + $0.output.1 }
        #expect(names.count >= 30, "found only \(names.count) names in docs/deploy.md")
        for name in names { #expect(Catalogue.all.contains(name), "docs/deploy.md names \(name), which MetricName does not have") }
    }
}
