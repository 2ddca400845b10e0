import Control
import Foundation
import ThermoshardClient
import Wire

/// The bench's requests: the preparation, and each connection's measured loop.
extension Bench {
    // MARK: Preparation

    /// Settings and a priming reading (30.0: heater off) for every sensor; waits until the
    /// cluster has processed them, then until the feed carries a command (the sentinel's).
    func prepare(_ connection: IngestConnection) async throws {
        let chunk = 10_000
        var items: [Item] = [.setting(sensor: Self.sentinel, Setting(unchecked: 0, up: 0, down: 0))]
        items.reserveCapacity(chunk)
        let setting = Setting(unchecked: 20, up: 0.5, down: 0.5)
        for phase in 0..<2 {
            for sensor in 1...plan.sensors {
                items.append(phase == 0 ? .setting(sensor: SensorID(sensor), setting) : .reading(sensor: SensorID(sensor), temperature: 30))
                if items.count == chunk {
                    try await prepare(connection, items)
                    items.removeAll(keepingCapacity: true)
                }
            }
        }
        if !items.isEmpty { try await prepare(connection, items) }
        guard try await waitUntilProcessed(stall: .seconds(30)) != nil else {
            throw LoadError("the cluster processed nothing for 30 s: are its workers running?")
        }

        // Toggle the sentinel until one of its commands arrives: then the subscription is live
        // and the feed has delivered everything the preparation caused (it is published in
        // order). Toggle again only while the feed is quiet; give up after 15 s of silence.
        var temperature = 100.0
        var toggled: Int64?
        var messages = shared.feedMessages.load(ordering: .relaxed)
        var progress = shared.now()
        var note = progress
        while shared.sentinelCommands.load(ordering: .relaxed) == 0 {
            let now = shared.now()
            let count = shared.feedMessages.load(ordering: .relaxed)
            if count != messages {
                messages = count
                progress = now
            }
            guard now - progress < 15_000_000_000 else {
                throw LoadError("no heater command arrived on \(plan.publish) within 15 s: is it the coordinator's publish address?")
            }
            if toggled.map({ now - max($0, progress) >= 500_000_000 }) ?? true {
                try await prepare(connection, [.reading(sensor: Self.sentinel, temperature: temperature)])
                temperature = -temperature
                toggled = now
            }
            if now - note >= 5_000_000_000 {
                note = now
                FileHandle.standardError.write(Data("bench: waiting for the command feed to catch up before starting\n".utf8))
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func prepare(_ connection: IngestConnection, _ items: [Item]) async throws {
        let reply = try await send(connection, IngestBody.binary(items)).reply
        if let problem = reply.rejected.first {
            throw LoadError("the coordinator rejected a setup item: \(problem.error)")
        }
    }

    /// One request, sent again while the coordinator refuses it with a retryable code
    /// (``retry``); any other refusal ends the run. `stamp` runs just before each attempt.
    private func send(_ connection: IngestConnection, _ body: [UInt8], stamp: () -> Void = {}) async throws -> IngestOutcome {
        let outcome = try await connection.send(body, beforeEachAttempt: stamp)
        if let error = outcome.reply.error {
            throw LoadError("the coordinator refused a request (\(outcome.reply.code?.rawValue ?? "no code")): \(error)")
        }
        return outcome
    }

    // MARK: Sending

    /// One connection's loop: claims a batch, encodes it, sends it and waits for the reply,
    /// until the readings or the time are used up. Paced when a rate is given.
    func drive(lane index: Int, connection: IngestConnection, start: Int64, deadline: Int64?) async throws -> LaneResult {
        var lane = Lane(index: index, of: plan.connections, sensors: plan.sensors)
        let batch = plan.batch
        // Nanoseconds between this lane's requests: its share of the rate is its share of the sensors.
        let interval = plan.rate.map { 1e9 * Double(batch) * Double(plan.sensors) / ($0 * Double(lane.count)) }
        var result = LaneResult()
        var number = 0
        while true {
            if let interval {
                let due = start + Int64(Double(number) * interval)
                let now = shared.now()
                if due > now { try await Task.sleep(for: .nanoseconds(due - now)) }
            }
            number += 1
            let count = shared.claim(batch, deadline: deadline)
            guard count > 0 else { break }
            let first = lane
            let body = lane.request(count, format: plan.format)
            result.sent += count
            // The first `lane.count` readings of a batch cover each of its sensors' first one.
            let marks = min(count, first.count)
            var sentAt: Int64 = 0
            let outcome = try await send(connection, body) {
                sentAt = shared.now()
                shared.tracker.withLock { tracker in
                    var replay = first
                    for _ in 0..<marks {
                        let (sensor, reading) = replay.next()
                        tracker.mark(sensor: sensor, reading: reading, at: sentAt)
                    }
                }
            }
            let now = shared.now()
            result.requests.record(min(UInt64(max(0, now - sentAt) / 1000), LatencyTracker.highest))
            result.finished = now
            result.refused += outcome.retried
            result.accepted += outcome.reply.accepted
            result.rejected += outcome.reply.rejected.count
        }
        return result
    }
}
