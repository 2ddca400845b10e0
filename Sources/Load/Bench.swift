public import Control
import Foundation
import ThermoshardClient
import Wire

/// One bench run: drives load against a running cluster and measures throughput and the
/// latency from a reading to its heater command.
///
/// Every sensor gets a setting (desired 20, up 0.5, down 0.5) and one priming reading of 30.0,
/// so its last command is off whatever came before. Then readings alternate each sensor
/// between 10.0 and 30.0: every reading flips the heater (on, off, on, ...), so the k-th
/// command the feed carries for a sensor (counting from its first "on") answers its k-th
/// reading (``LatencyTracker``). A reading is sampled when its sensor has no sampled reading
/// in flight; the sample is the time from sending its request to receiving its command.
public struct Bench: Sendable {
    /// The sensor whose commands show that the feed subscription is live.
    public static let sentinel = SensorID.max
    /// How ingest requests are sent again while the coordinator is overloaded: without limit,
    /// pausing 1 ms doubling to 100 ms.
    static let retry = RetryPolicy(attempts: nil, firstPause: .milliseconds(1), maxPause: .milliseconds(100))
    static let requestTimeout = Duration.seconds(30)

    public let plan: BenchPlan
    let shared: BenchShared
    let admin: AdminClient

    public init(_ plan: BenchPlan) {
        self.plan = plan
        shared = BenchShared(sensors: plan.sensors, readings: plan.readings)
        admin = AdminClient(plan.endpoint(plan.admin, flag: "--admin"))
    }

    /// Connects, prepares the sensors, runs the measured load and waits for its commands.
    public func run() async throws -> BenchReport {
        let feed = try await FeedSubscriber(plan.endpoint(plan.publish, flag: "--publish"), receiveBuffer: 8192)
        var connections: [IngestConnection] = []
        let result = await outcome {
            for _ in 0..<plan.connections {
                connections.append(try await IngestConnection(
                    plan.endpoint(plan.ingest, flag: "--ingest"), retry: Self.retry, timeout: Self.requestTimeout))
            }
            return try await run(feed: feed, connections: connections)
        }
        for connection in connections { await connection.close() }
        await feed.close()
        return try result.get()
    }

    private func run(feed: FeedSubscriber, connections: [IngestConnection]) async throws -> BenchReport {
        guard !(try await admin.status().workers.isEmpty) else {
            throw LoadError("the coordinator at \(plan.admin) has no workers: start some with `thermoshard worker`")
        }

        // The feed is read on a thread of its own with blocking receives: an async receive per
        // message costs two thread hand-offs and could not keep up with the feed. Closing the
        // feed ends it.
        let listener = Thread { [shared, sensors = plan.sensors] in
            Self.listen(feed, shared: shared, sensors: sensors)
        }
        listener.start()

        try await prepare(connections[0])

        // The measured run.
        let start = shared.now()
        let deadline = plan.duration.map { start + Int64($0 * 1e9) }
        let results = try await withThrowingTaskGroup(of: LaneResult.self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask { [self] in try await drive(lane: index, connection: connection, start: start, deadline: deadline) }
            }
            var results: [LaneResult] = []
            for try await result in group { results.append(result) }
            return results
        }
        var report = BenchReport(plan: plan)
        for result in results {
            report.sent += result.sent
            report.accepted += result.accepted
            report.rejected += result.rejected
            report.refusedRequests += result.refused
            report.requests.add(result.requests)
        }
        let sendEnd = results.map(\.finished).max() ?? start
        report.acceptedSeconds = Double(sendEnd - start) / 1e9
        if let processed = try await waitUntilProcessed(stall: .seconds(30)) {
            report.endToEndSeconds = Double(processed - start) / 1e9
        } else {
            FileHandle.standardError.write(Data("warning: the coordinator processed nothing for 30 s; end-to-end throughput is unknown\n".utf8))
        }

        try await drainFeed(expecting: report.accepted, start: start)
        shared.tracker.withLock { tracker in
            report.latency = tracker.histogram
            report.commandsReceived = tracker.commands
            report.feedSeconds = tracker.commands > 0 ? Double(tracker.lastCommandAt - start) / 1e9 : 0
            report.feedGaps = tracker.feedGaps
            report.resynchronized = tracker.resynchronized
        }
        report.feedComplete = report.commandsReceived >= report.accepted
        return report
    }

    /// The longest wait for the feed after the sending ends.
    static let feedWait: Int64 = 120_000_000_000

    /// Commands are published after their results are processed and logged, and the feed may
    /// lag far behind: waits until it has delivered a command for every accepted reading, stays
    /// silent for 2 s (it lost some) or `feedWait` passes. Says how it goes on standard error.
    private func drainFeed(expecting expected: Int, start: Int64) async throws {
        let begin = shared.now()
        var seen = -1
        var lastChange = begin
        var lastNote = begin
        while true {
            let commands = shared.tracker.withLock { $0.commands }
            let now = shared.now()
            if commands >= expected { return }
            if commands != seen {
                seen = commands
                lastChange = now
            } else if now - lastChange > 2_000_000_000 {
                return
            }
            if now - begin > Self.feedWait {
                FileHandle.standardError.write(Data("bench: stopped waiting for the command feed after \(Self.feedWait / 1_000_000_000) s\n".utf8))
                return
            }
            if now - lastNote >= 5_000_000_000 {
                lastNote = now
                let rate = Double(commands) / (Double(now - start) / 1e9)
                FileHandle.standardError.write(Data("bench: waiting for the command feed: \(BenchReport.grouped(Double(commands))) of \(BenchReport.grouped(Double(expected))) commands so far (\(BenchReport.grouped(rate))/s)\n".utf8))
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Receives every command on the feed and hands the bench's to the tracker, until the feed
    /// is closed.
    private static func listen(_ feed: FeedSubscriber, shared: BenchShared, sensors: Int) {
        while true {
            let bytes: [UInt8]
            do {
                bytes = try feed.nextBlocking()
            } catch {
                if error == .closed || error == .canceled { return }
                continue
            }
            let now = shared.now()
            shared.feedMessages.add(1, ordering: .relaxed)
            guard let events = try? FeedBatch.events(in: bytes) else { continue }
            for event in events where event.sensor == sentinel { shared.sentinelCommands.add(1, ordering: .relaxed) }
            shared.tracker.withLock { tracker in
                for event in events {
                    tracker.observe(offset: event.commandOffset)
                    if (1...UInt64(sensors)).contains(event.sensor) {
                        tracker.command(sensor: Int(event.sensor), action: event.action, at: now)
                    }
                }
            }
        }
    }

    /// Polls the coordinator's status until it has processed every item it had accepted at the
    /// first poll; returns when it saw that (nanoseconds since the start), or nil if the
    /// processed counter stood still for `stall`.
    func waitUntilProcessed(stall: Duration) async throws -> Int64? {
        let stallNanoseconds = stall.components.seconds * 1_000_000_000
        var target: UInt64?
        var processed: UInt64 = 0
        var progress = shared.now()
        while true {
            let counters = try await admin.status().counters
            let now = shared.now()
            let goal = target ?? counters.accepted
            target = goal
            if counters.processed >= goal { return now }
            if counters.processed != processed {
                processed = counters.processed
                progress = now
            } else if now - progress > stallNanoseconds {
                return nil
            }
            // A status report with thousands of partitions costs the coordinator a millisecond
            // or more to encode: polling faster would load what is measured.
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
