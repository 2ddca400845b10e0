import ArgumentParser
import Control
import Foundation
import Histogram
import NNG
import Synchronization
import ThermoshardClient
import Wire

/// `thermoshard bench`: drives load against a running cluster and reports throughput and the
/// latency from a reading to its heater command.
///
/// Every sensor gets a setting (desired 20, up 0.5, down 0.5) and one priming reading of 30.0,
/// so its last command is off whatever came before. Then readings alternate each sensor
/// between 10.0 and 30.0: every reading flips the heater (on, off, on, ...), so the k-th
/// command the feed carries for a sensor (counting from its first "on") answers its k-th
/// reading. A reading is sampled when its sensor has no sampled reading in flight; the sample
/// is the time from sending its request to receiving its command.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Drive load against a running cluster; report throughput and reading-to-command latency.",
        discussion: """
            Sends a setting (desired 20, up 0.5, down 0.5) and a priming reading for sensors 1...N, \
            then readings that alternate each sensor between 10.0 and 30.0, so that every reading \
            causes a heater command. Reports items sent and accepted, the rate at which the \
            coordinator accepted them, the end-to-end rate (until its status counters show every \
            accepted item processed) and the latency from sending a reading to receiving its \
            command on the publish feed, as an HdrHistogram in microseconds. Without --rate, \
            --connections REQ sockets send as fast as they can, one request in flight each; each \
            connection drives its own sensors, so each sensor's readings arrive in order. Run it \
            against an otherwise idle cluster: it replaces the settings of sensors 1...N and of \
            sensor 18446744073709551615 (used to check that the feed is connected).
            """
    )

    @Option(help: "The coordinator's ingest address.")
    var ingest: String

    @Option(help: "The coordinator's publish address.")
    var publish = "tcp://127.0.0.1:7601"

    @Option(help: "The coordinator's admin address.")
    var admin = "tcp://127.0.0.1:7603"

    @Option(help: "Number of sensors (IDs 1...N).")
    var sensors = 1000

    @Option(help: "Send this many readings in all (instead of --duration).")
    var readings: Int?

    @Option(help: "Send readings for this many seconds (default 10; instead of --readings).")
    var duration: Double?

    @Option(help: "Items per second, all connections together (default: as fast as possible).")
    var rate: Double?

    @Option(help: "The request format: binary (binary batches) or json (JSON arrays).")
    var format = BenchFormat.binary

    @Option(help: "Items per request (default 1000 for binary, 200 for json; with --rate, at most rate/100 per connection).")
    var batch: Int?

    @Option(help: "Concurrent REQ sockets, one request in flight each.")
    var connections = 2

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard (1...10_000_000).contains(sensors) else { throw ValidationError("--sensors must be between 1 and 10000000") }
        if readings != nil, duration != nil {
            throw ValidationError("--readings and --duration exclude each other: give one (or neither, for 10 seconds)")
        }
        if let readings, readings <= 0 { throw ValidationError("--readings must be positive") }
        if let duration, !(duration > 0 && duration <= 86_400) {
            throw ValidationError("--duration must be a number of seconds above 0 and at most 86400")
        }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number of items per second") }
        if let batch, !(1...100_000).contains(batch) {
            throw ValidationError("--batch must be between 1 and 100000 (the coordinator's limit per request)")
        }
        guard (1...256).contains(connections) else { throw ValidationError("--connections must be between 1 and 256") }
        guard connections <= sensors else {
            throw ValidationError("--connections (\(connections)) must not exceed --sensors (\(sensors)): each connection drives its own sensors")
        }
        try Address.validate([("--ingest", ingest), ("--publish", publish), ("--admin", admin)])
    }

    func run() async throws {
        let plan = BenchPlan(
            ingest: ingest, publish: publish, admin: admin, sensors: sensors, readings: readings,
            duration: readings == nil ? duration ?? 10 : nil, rate: rate, format: format,
            batch: batch ?? BenchPlan.defaultBatch(format: format, rate: rate, connections: connections),
            connections: connections)
        let report = try await Bench(plan).run()
        print(json ? report.json() : report.table())
        if report.endToEndSeconds == nil { throw ExitCode.failure }
    }
}

enum BenchFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case binary, json
}

/// The validated flags: what one run does.
struct BenchPlan: Sendable {
    var ingest: String
    var publish: String
    var admin: String
    var sensors: Int
    /// Exactly one of `readings` and `duration` (seconds) is set.
    var readings: Int?
    var duration: Double?
    var rate: Double?
    var format: BenchFormat
    var batch: Int
    var connections: Int

    /// 1000 items per binary request, 200 per JSON one; when paced, small enough that each
    /// connection sends at least 100 requests per second (smooth pacing).
    static func defaultBatch(format: BenchFormat, rate: Double?, connections: Int) -> Int {
        let standard = format == .binary ? 1000 : 200
        guard let rate else { return standard }
        return min(standard, max(1, Int(rate / Double(connections) / 100)))
    }
}

/// The sensors one connection drives (IDs `index + 1`, then every `lanes`-th) and where it is in
/// its stream of readings: round robin over its sensors, round `k` sending each its reading k.
struct Lane: Sendable {
    let first: Int
    let stride: Int
    /// How many sensors this lane drives.
    let count: Int
    private var slot = 0
    private var round = 0

    init(index: Int, of lanes: Int, sensors: Int) {
        first = index + 1
        stride = lanes
        count = (sensors - index + lanes - 1) / lanes
    }

    /// The next reading: its sensor ID and its number among that sensor's readings.
    @inline(__always)
    mutating func next() -> (sensor: Int, reading: Int) {
        let sensor = first + slot * stride
        let reading = round
        slot += 1
        if slot == count {
            slot = 0
            round += 1
        }
        return (sensor, reading)
    }

    /// Reading k: 10.0 (heater on) for even k, 30.0 (off) for odd k; the priming reading is 30.0.
    @inline(__always)
    static func temperature(reading: Int) -> Double { reading & 1 == 0 ? 10 : 30 }

    /// The command reading k causes.
    @inline(__always)
    static func action(reading: Int) -> HeaterAction { reading & 1 == 0 ? .on : .off }
}

/// Matches commands from the feed to sampled readings, per sensor (flat arrays indexed by
/// sensor ID), and keeps the latency histogram. Guarded by a mutex: the senders mark samples,
/// the feed listener matches them.
struct LatencyTracker: ~Copyable {
    static let none = -1
    /// Latencies above an hour are recorded as an hour.
    static let highest: UInt64 = 3_600_000_000

    /// The sampled reading in flight per sensor (`none`: none), and when its request was sent
    /// (nanoseconds since the start of the run).
    private var pending: [Int]
    private var pendingSince: [Int64]
    /// Measured commands received per sensor, and whether its first measured one ("on") came.
    private var received: [Int]
    private var started: [Bool]
    private(set) var histogram = Histogram<UInt64>(highestTrackableValue: highest, numberOfSignificantValueDigits: .three)
    /// Measured commands received, in all.
    private(set) var commands = 0
    /// Commands whose action showed that one before it was lost (the count moved on by one).
    private(set) var resynchronized = 0
    /// Commands missing from the feed, by gaps in the command log offsets it carries.
    private(set) var feedGaps: UInt64 = 0
    private var nextOffset: UInt64?
    /// When the latest measured command came (nanoseconds since the start of the run).
    private(set) var lastCommandAt: Int64 = 0

    init(sensors: Int) {
        pending = Array(repeating: Self.none, count: sensors + 1)
        pendingSince = Array(repeating: 0, count: sensors + 1)
        received = Array(repeating: 0, count: sensors + 1)
        started = Array(repeating: false, count: sensors + 1)
    }

    /// A request with reading `reading` of `sensor` goes out at `time`: sample it unless one is
    /// in flight (a retry of the same request restamps its sample).
    @inline(__always)
    mutating func mark(sensor: Int, reading: Int, at time: Int64) {
        let current = pending[sensor]
        if current == Self.none || current == reading {
            pending[sensor] = reading
            pendingSince[sensor] = time
        }
    }

    /// Any command on the feed, for loss accounting.
    mutating func observe(offset: UInt64?) {
        guard let offset else { return }
        if let expected = nextOffset, offset > expected { feedGaps += offset - expected }
        nextOffset = max(nextOffset ?? 0, offset + 1)
    }

    /// A command for one of the bench's sensors, received at `time`.
    mutating func command(sensor: Int, action: HeaterAction, at time: Int64) {
        if !started[sensor] {
            // Commands before the first "on" answer the priming reading (or an earlier run).
            guard action == .on else { return }
            started[sensor] = true
        }
        var index = received[sensor]
        if action != Lane.action(reading: index) {
            // An odd number of this sensor's commands were lost: skip one to match again.
            index += 1
            resynchronized += 1
        }
        received[sensor] = index + 1
        commands += 1
        lastCommandAt = time
        let sampled = pending[sensor]
        if sampled != Self.none, sampled <= index {
            if sampled == index {
                let microseconds = UInt64(max(0, time - pendingSince[sensor]) / 1000)
                histogram.record(min(microseconds, Self.highest))
            }
            pending[sensor] = Self.none
        }
    }
}

/// What the senders and the feed listener share.
final class BenchShared: Sendable {
    let tracker: Mutex<LatencyTracker>
    let sentinelCommands = Atomic<Int>(0)
    /// Every message the feed delivered.
    let feedMessages = Atomic<Int>(0)
    /// Readings still to claim with --readings.
    let remaining: Atomic<Int>
    private let base = ContinuousClock.now

    init(sensors: Int, readings: Int?) {
        tracker = Mutex(LatencyTracker(sensors: sensors))
        remaining = Atomic(readings ?? 0)
    }

    /// Nanoseconds since this object was made.
    @inline(__always)
    func now() -> Int64 {
        let (seconds, attoseconds) = (ContinuousClock.now - base).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// What one connection did.
struct LaneResult: Sendable {
    var sent = 0
    var accepted = 0
    var rejected = 0
    var refused = 0
    /// When its last reply came (nanoseconds since the start).
    var finished: Int64 = 0
    /// Request round trips (send to reply), microseconds.
    var requests = Histogram<UInt64>(highestTrackableValue: LatencyTracker.highest, numberOfSignificantValueDigits: .three)
}

/// One run.
struct Bench {
    /// The sensor whose commands show that the feed subscription is live.
    static let sentinel = SensorID.max

    let plan: BenchPlan
    let shared: BenchShared

    init(_ plan: BenchPlan) {
        self.plan = plan
        shared = BenchShared(sensors: plan.sensors, readings: plan.readings)
    }

    func run() async throws -> BenchReport {
        let subscriber = try Socket(.sub)
        defer { subscriber.close() }
        try subscriber.setReceiveBuffer(8192)
        try subscriber.subscribe(to: [])
        try dial(subscriber, plan.publish, flag: "--publish")
        var sockets: [Socket] = []
        defer { for socket in sockets { socket.close() } }
        for _ in 0..<plan.connections {
            let socket = try Socket(.req)
            sockets.append(socket)
            try dial(socket, plan.ingest, flag: "--ingest")
        }

        let initial = try await status()
        guard !initial.workers.isEmpty else {
            throw ValidationError("the coordinator at \(plan.admin) has no workers: start some with `thermoshard worker`")
        }

        // The feed is read on a thread of its own with blocking receives: an async receive per
        // message costs two thread hand-offs and could not keep up with the feed.
        let listener = Thread { [shared, sensors = plan.sensors] in
            Self.listen(subscriber, shared: shared, sensors: sensors)
        }
        listener.start()

        try await prepare(sockets[0])

        // The measured run.
        let start = shared.now()
        let deadline = plan.duration.map { start + Int64($0 * 1e9) }
        let results = try await withThrowingTaskGroup(of: LaneResult.self) { group in
            for (index, socket) in sockets.enumerated() {
                group.addTask { [self] in try await drive(lane: index, socket: socket, start: start, deadline: deadline) }
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
        listener.cancel()
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

    private func dial(_ socket: Socket, _ url: String, flag: String) throws {
        do {
            try socket.dial(url)
        } catch {
            throw ValidationError("cannot dial \(flag) \(url): \(error)")
        }
    }

    // MARK: Preparation

    /// Settings and a priming reading (30.0: heater off) for every sensor; waits until the
    /// cluster has processed them, then until the feed carries a command (the sentinel's).
    private func prepare(_ socket: Socket) async throws {
        let chunk = 10_000
        var encoder = BinaryBatchEncoder(capacity: BinaryBatch.headerSize + chunk * BinaryBatch.settingSize)
        encoder.append(.setting(sensor: Self.sentinel, Setting(unchecked: 0, up: 0, down: 0)))
        let setting = Setting(unchecked: 20, up: 0.5, down: 0.5)
        for phase in 0..<2 {
            for sensor in 1...plan.sensors {
                encoder.append(phase == 0 ? .setting(sensor: SensorID(sensor), setting) : .reading(sensor: SensorID(sensor), temperature: 30))
                if encoder.count == chunk {
                    try await prepare(socket, encoder.finish())
                    encoder = BinaryBatchEncoder(capacity: BinaryBatch.headerSize + chunk * BinaryBatch.settingSize)
                }
            }
        }
        if encoder.count > 0 { try await prepare(socket, encoder.finish()) }
        guard try await waitUntilProcessed(stall: .seconds(30)) != nil else {
            throw ValidationError("the cluster processed nothing for 30 s: are its workers running?")
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
                throw ValidationError("no heater command arrived on \(plan.publish) within 15 s: is it the coordinator's publish address?")
            }
            if toggled.map({ now - max($0, progress) >= 500_000_000 }) ?? true {
                var toggle = BinaryBatchEncoder(capacity: 32)
                toggle.append(.reading(sensor: Self.sentinel, temperature: temperature))
                temperature = -temperature
                try await prepare(socket, toggle.finish())
                toggled = now
            }
            if now - note >= 5_000_000_000 {
                note = now
                FileHandle.standardError.write(Data("bench: waiting for the command feed to catch up before starting\n".utf8))
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func prepare(_ socket: Socket, _ body: [UInt8]) async throws {
        var refused = 0
        let reply = try await exchange(socket, body, refused: &refused) {}
        if let problem = reply.rejected.first {
            throw ValidationError("the coordinator rejected a setup item: \(problem.error)")
        }
    }

    // MARK: Sending

    /// One connection's loop: claims a batch, encodes it, sends it and waits for the reply,
    /// until the readings or the time are used up. Paced when --rate is given.
    private func drive(lane index: Int, socket: Socket, start: Int64, deadline: Int64?) async throws -> LaneResult {
        var lane = Lane(index: index, of: plan.connections, sensors: plan.sensors)
        let batch = plan.batch
        // Nanoseconds between this lane's requests: its share of --rate is its share of the sensors.
        let interval = plan.rate.map { 1e9 * Double(batch) * Double(plan.sensors) / ($0 * Double(lane.count)) }
        let binaryCapacity = BinaryBatch.headerSize + batch * BinaryBatch.readingSize
        var json: [UInt8] = []
        if plan.format == .json { json.reserveCapacity(2 + batch * JSONBatch.maxItemSize) }
        var result = LaneResult()
        var number = 0
        while true {
            if let interval {
                let due = start + Int64(Double(number) * interval)
                let now = shared.now()
                if due > now { try await Task.sleep(for: .nanoseconds(due - now)) }
            }
            number += 1
            let count = claim(batch, deadline: deadline)
            guard count > 0 else { break }
            let first = lane
            let body: [UInt8]
            switch plan.format {
            case .binary:
                var encoder = BinaryBatchEncoder(capacity: binaryCapacity)
                for _ in 0..<count {
                    let (sensor, reading) = lane.next()
                    encoder.append(.reading(sensor: SensorID(truncatingIfNeeded: sensor), temperature: Lane.temperature(reading: reading)))
                }
                body = encoder.finish()
            case .json:
                json.removeAll(keepingCapacity: true)
                JSONBatch.encode(count, from: &lane, into: &json)
                body = json
            }
            result.sent += count
            // The first `lane.count` readings of a batch cover each of its sensors' first one.
            let marks = min(count, first.count)
            var sentAt: Int64 = 0
            let reply = try await exchange(socket, body, refused: &result.refused) {
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
            result.accepted += reply.accepted
            result.rejected += reply.rejected.count
        }
        return result
    }

    /// Up to `batch` readings to send now: none once the deadline passed or the readings are
    /// used up.
    private func claim(_ batch: Int, deadline: Int64?) -> Int {
        if let deadline { return shared.now() < deadline ? batch : 0 }
        var left = shared.remaining.load(ordering: .relaxed)
        while left > 0 {
            let take = min(batch, left)
            let (exchanged, original) = shared.remaining.compareExchange(
                expected: left, desired: left - take, ordering: .relaxed)
            if exchanged { return take }
            left = original
        }
        return 0
    }

    /// One request and its reply; the same bytes again while the coordinator refuses them with
    /// a retryable code (overloaded, shutting down). `stamp` runs just before each attempt is
    /// sent.
    private func exchange(_ socket: Socket, _ body: [UInt8], refused: inout Int, stamp: () -> Void) async throws -> IngestReply {
        let timeout = Duration.seconds(30)
        var backoff = Duration.milliseconds(1)
        while true {
            stamp()
            let bytes: [UInt8]
            do {
                try await socket.send(body, timeout: timeout)
                bytes = try await socket.receive(timeout: timeout).bytes
            } catch {
                if error == .timedOut {
                    throw ValidationError("no reply from \(plan.ingest) within \(timeout): is the coordinator running?")
                }
                throw ValidationError("ingest request failed: \(error)")
            }
            let reply = try IngestReply.decode(bytes)
            guard let error = reply.error else { return reply }
            guard reply.retryable else {
                throw ValidationError("the coordinator refused a request (\(reply.code?.rawValue ?? "no code")): \(error)")
            }
            refused += 1
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .milliseconds(100))
        }
    }

    // MARK: The feed and the coordinator's status

    /// Receives every command on the feed and hands the bench's to the tracker.
    private static func listen(_ socket: Socket, shared: BenchShared, sensors: Int) {
        while true {
            let bytes: [UInt8]
            do {
                bytes = try socket.receiveBlocking().bytes
            } catch {
                if error == .closed || error == .canceled { return }
                continue
            }
            let now = shared.now()
            shared.feedMessages.add(1, ordering: .relaxed)
            guard let event = try? CommandEvent.decodeFeedMessage(bytes) else { continue }
            if event.sensor == sentinel { shared.sentinelCommands.add(1, ordering: .relaxed) }
            shared.tracker.withLock { tracker in
                tracker.observe(offset: event.commandOffset)
                if (1...UInt64(sensors)).contains(event.sensor) {
                    tracker.command(sensor: Int(event.sensor), action: event.action, at: now)
                }
            }
        }
    }

    private func status() async throws -> StatusReport {
        try await AdminClient(Endpoint(url: plan.admin, flag: "--admin")).status()
    }

    /// Polls the coordinator's status until it has processed every item it had accepted at the
    /// first poll; returns when it saw that (nanoseconds since the start), or nil if the
    /// processed counter stood still for `stall`.
    private func waitUntilProcessed(stall: Duration) async throws -> Int64? {
        let stallNanoseconds = stall.components.seconds * 1_000_000_000
        var target: UInt64?
        var processed: UInt64 = 0
        var progress = shared.now()
        while true {
            let counters = try await status().counters
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
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// Readings as a JSON array, written into a reused buffer without allocating per item:
/// `[{"sensor":1,"temperature":10.0},...]`.
enum JSONBatch {
    static let itemStart = Array(#"{"sensor":"#.utf8)
    static let cold = Array(#","temperature":10.0}"#.utf8)
    static let hot = Array(#","temperature":30.0}"#.utf8)
    /// The longest item plus its comma (a 20-digit sensor ID).
    static let maxItemSize = 10 + 20 + 20 + 1

    static func encode(_ count: Int, from lane: inout Lane, into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "["))
        for index in 0..<count {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            let (sensor, reading) = lane.next()
            buffer.append(contentsOf: itemStart)
            appendDecimal(UInt64(truncatingIfNeeded: sensor), to: &buffer)
            buffer.append(contentsOf: reading & 1 == 0 ? cold : hot)
        }
        buffer.append(UInt8(ascii: "]"))
    }

    @inline(__always)
    static func appendDecimal(_ value: UInt64, to buffer: inout [UInt8]) {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        let end = buffer.count + digits
        buffer.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var position = end - 1
        rest = value
        repeat {
            buffer[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            position -= 1
        } while rest > 0
    }
}

/// The figures of one run, as a table or one JSON object.
struct BenchReport {
    let plan: BenchPlan
    var sent = 0
    var accepted = 0
    var rejected = 0
    var refusedRequests = 0
    /// From the first request to the last reply.
    var acceptedSeconds = 0.0
    /// From the first request until the coordinator's status showed every item processed.
    var endToEndSeconds: Double?
    /// Reading sent to its command received, microseconds.
    var latency = Histogram<UInt64>(highestTrackableValue: LatencyTracker.highest, numberOfSignificantValueDigits: .three)
    /// Request sent to reply received, microseconds.
    var requests = Histogram<UInt64>(highestTrackableValue: LatencyTracker.highest, numberOfSignificantValueDigits: .three)
    var commandsReceived = 0
    /// From the first request to the last command received.
    var feedSeconds = 0.0
    /// Whether a command came for every accepted reading.
    var feedComplete = false
    var feedGaps: UInt64 = 0
    var resynchronized = 0

    init(plan: BenchPlan) { self.plan = plan }

    var acceptedPerSecond: Double { acceptedSeconds > 0 ? Double(accepted) / acceptedSeconds : 0 }
    var endToEndPerSecond: Double? { endToEndSeconds.map { $0 > 0 ? Double(accepted) / $0 : 0 } }

    static let percentiles: [(name: String, label: String, value: Double)] = [
        ("p50", "p50", 50), ("p90", "p90", 90), ("p99", "p99", 99), ("p99_9", "p99.9", 99.9),
    ]

    func json() -> String {
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

    func table() -> String {
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

    static func distribution(_ histogram: Histogram<UInt64>) -> String {
        guard histogram.totalCount > 0 else { return "no samples" }
        let parts = percentiles.map { "\($0.label) \(grouped(Double(histogram.valueAtPercentile($0.value))))" }
        return (parts + ["max \(grouped(Double(histogram.maxRecorded)))"]).joined(separator: "  ")
    }

    static func row(_ label: String, _ text: String) -> String {
        label.padding(toLength: 12, withPad: " ", startingAt: 0) + text
    }

    static func round(_ value: Double, _ digits: Int) -> Double {
        let scale = pow(10, Double(digits))
        return (value * scale).rounded() / scale
    }

    /// `1234567.8` as `1,234,568` (for counts and rates, never negative).
    static func grouped(_ value: Double) -> String {
        let digits = String(UInt64(max(0, value).rounded()))
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return out
    }
}
