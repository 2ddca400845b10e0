import ArgumentParser
import Control
import Foundation
import ThermoshardClient
import Wire

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show workers, partitions and counters.",
        discussion: """
            The table: counters (workers lost, fenced = results refused from former owners); each \
            worker's state (active; silent when not heard from for over \(StatusTable.silentAfterMilliseconds) ms, \
            e.g. stopped or cut off, until the heartbeat timeout removes it; leaving) and how long \
            ago it was heard; the lag; the checkpoints behind their partition's head (what a \
            failover would replay) and the oldest of them, or "all checkpoints current"; and the \
            partitions that lag, move, or whose checkpoint has been behind for over 5 s. --json prints the coordinator's status \
            (docs/protocol.md).
            """
    )

    @Option(help: "The coordinator's admin address.")
    var admin = "tcp://127.0.0.1:7603"

    @Flag(help: "Print the coordinator's JSON instead of a table.")
    var json = false

    @Option(help: DurationArgument.connectTimeoutHelp)
    var connectTimeout = DurationArgument.defaultConnectTimeout

    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        try Address.validate(admin, flag: "--admin")
        _ = try security.endpoint(url: admin, flag: "--admin", connectTimeout: connectTimeout)
    }

    func run() async throws {
        let client = AdminClient(try security.endpoint(url: admin, flag: "--admin", connectTimeout: connectTimeout))
        if json {
            print(String(decoding: try await client.raw(AdminRequest(command: "status")), as: UTF8.self))
        } else {
            print(StatusTable.render(try await client.status()))
        }
    }
}

struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Hand all of a worker's partitions to the others; the worker then exits 0.",
        discussion: "Draining the last worker is refused (its partitions would have no owner) unless --force."
    )

    @Argument(help: "The worker's id, as `thermoshard status` shows it.")
    var worker: String

    @Flag(help: "Drain even the last worker.")
    var force = false

    @Option(help: "The coordinator's admin address.")
    var admin = "tcp://127.0.0.1:7603"

    @Option(help: DurationArgument.connectTimeoutHelp)
    var connectTimeout = DurationArgument.defaultConnectTimeout

    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        try Address.validate(admin, flag: "--admin")
        _ = try security.endpoint(url: admin, flag: "--admin", connectTimeout: connectTimeout)
    }

    func run() async throws {
        let client = AdminClient(try security.endpoint(url: admin, flag: "--admin", connectTimeout: connectTimeout))
        print(try await client.drain(worker, force: force))
    }
}

enum StatusTable {
    /// A worker not heard from for longer than this is shown as silent: a healthy one polls at
    /// least every poll wait (at most 100 ms), so this is well above it and below the default
    /// heartbeat timeout (800 ms), after which the coordinator declares it dead.
    static let silentAfterMilliseconds: UInt64 = 500

    static func render(_ status: StatusReport) -> String {
        var lines: [String] = []
        let c = status.counters
        lines.append("partitions \(status.partitionCount)  workers \(status.workers.count)  accepted \(c.accepted)  processed \(c.processed)  commands \(c.commands)  rejected \(c.rejected)+\(c.rejectedRequests) requests  dropped(no setting) \(c.droppedNoSetting)")
        lines.append("workers lost \(c.workersLost)  fenced \(c.fenced)  partition moves \(c.partitionMoves)  checkpoints \(c.checkpoints)")
        if c.hellosUnauthorized + c.otherConnectionRequests + c.resultsRefused + c.ingestUnauthorized + c.adminUnauthorized > 0 {
            lines.append("refused: hellos unauthorized \(c.hellosUnauthorized)  other-connection requests \(c.otherConnectionRequests)  results refused (workers fenced) \(c.resultsRefused)  ingest unauthorized \(c.ingestUnauthorized)  admin unauthorized \(c.adminUnauthorized)")
        }
        lines.append("")
        lines.append(pad("WORKER", 24) + pad("PARTS", 7) + pad("STATE", 9) + pad("HEARD", 11) + "PARTITIONS")
        for worker in status.workers {
            lines.append(pad(worker.id, 24) + pad("\(worker.partitions.count)", 7) + pad(state(of: worker), 9)
                         + pad("\(worker.lastHeardMilliseconds) ms", 11) + ranges(worker.partitions))
        }
        let unassigned = status.partitions.filter { $0.owner == nil }.map(\.id)
        let moving = status.partitions.filter { $0.state == "releasing" }.map(\.id)
        if !unassigned.isEmpty { lines.append("unassigned: \(ranges(unassigned))") }
        if !moving.isEmpty { lines.append("being handed over: \(ranges(moving))") }
        let lag = status.partitions.reduce(UInt64(0)) { $0 + $1.lag }
        lines.append("lag \(lag) items  " + checkpoints(status.partitions))
        if let pauses = status.pauses, pauses.count > 0 {
            lines.append("moved partitions paused: median \(pauses.medianMilliseconds) ms, p99 \(pauses.p99Milliseconds) ms, max \(pauses.maxMilliseconds) ms (\(pauses.count) moves)")
        }
        let busy = status.partitions.filter { $0.lag > 0 || $0.state != "owned" || isStale($0) }
        if !busy.isEmpty {
            lines.append("")
            lines.append(pad("PARTITION", 11) + pad("OWNER", 24) + pad("STATE", 12) + pad("LAG", 10) + "CHECKPOINT")
            for p in busy.prefix(20) {
                lines.append(pad("\(p.id)", 11) + pad(p.owner ?? "-", 24) + pad(p.state, 12) + pad("\(p.lag)", 10) + checkpoint(p))
            }
            if busy.count > 20 { lines.append("... and \(busy.count - 20) more (status --json has them all)") }
        }
        return lines.joined(separator: "\n")
    }

    static func state(of worker: StatusReport.WorkerStatus) -> String {
        if worker.leaving { return "leaving" }
        return worker.lastHeardMilliseconds > silentAfterMilliseconds ? "silent" : "active"
    }

    /// Whether the partition has items its newest checkpoint does not cover: what a failover
    /// would replay from the journal.
    static func isBehind(_ p: StatusReport.PartitionStatus) -> Bool { p.checkpoint < p.head }

    /// Behind, and for longer than a few checkpoint intervals: worth a line of its own.
    static let staleAfterMilliseconds: UInt64 = 5_000
    static func isStale(_ p: StatusReport.PartitionStatus) -> Bool {
        isBehind(p) && (p.checkpointAgeMilliseconds.map { $0 > staleAfterMilliseconds } ?? true)
    }

    /// The checkpoints an operator must watch: those behind their partition's head, and the
    /// oldest of them. (A current checkpoint may be old on an idle partition: that is fine.)
    static func checkpoints(_ partitions: [StatusReport.PartitionStatus]) -> String {
        let behind = partitions.filter(isBehind)
        guard !behind.isEmpty else { return "all checkpoints current" }
        var text = "checkpoints behind head: \(behind.count) partition\(behind.count == 1 ? "" : "s")"
        let ages = behind.compactMap(\.checkpointAgeMilliseconds)
        if let oldest = ages.max() { text += ", oldest \(oldest) ms" }
        if ages.count < behind.count { text += ", \(behind.count - ages.count) never checkpointed" }
        return text
    }

    static func checkpoint(_ p: StatusReport.PartitionStatus) -> String {
        guard isBehind(p) else { return "current" }
        return p.checkpointAgeMilliseconds.map { "behind, \($0) ms old" } ?? "none yet"
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    /// `[0, 1, 2, 5, 7, 8]` as `0-2,5,7-8`.
    static func ranges(_ values: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let sorted = values.sorted()
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count, sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}

struct SetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Send one sensor's setting.")

    @Argument(help: "The sensor ID (unsigned 64-bit).")
    var sensor: UInt64

    // Unconditional parsing: the value is the next word as typed, so `--desired -18` is -18,
    // not an unknown option `-18` (and `--up -1` is judged as a value: it must be >= 0).
    @Option(parsing: .unconditional, help: "Desired temperature (may be negative).") var desired: Double
    @Option(parsing: .unconditional, help: "Switch the heater off above desired + up (>= 0).") var up: Double
    @Option(parsing: .unconditional, help: "Switch the heater on below desired - down (>= 0).") var down: Double

    @Option(help: "The coordinator's ingest address.")
    var ingest = "tcp://127.0.0.1:7600"

    @Option(help: DurationArgument.connectTimeoutHelp)
    var connectTimeout = DurationArgument.defaultConnectTimeout

    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        try Address.validate(ingest, flag: "--ingest")
        _ = try setting()
        _ = try security.endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout)
    }

    private func setting() throws -> Setting {
        do {
            return try Setting(desired: desired, up: up, down: down)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let setting = try setting()
        let client = IngestClient(try security.endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout))
        let reply = try await client.send([.setting(sensor: sensor, setting)]).reply
        if let refusal = reply.refusal { throw RuntimeError(refusal) }
        if let rejection = reply.rejected.first { throw RuntimeError("rejected: \(rejection.error)") }
        print("accepted")
    }
}

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send readings and settings as NDJSON from standard input.",
        discussion: #"One JSON item per line: {"sensor":17,"temperature":21.4} or {"sensor":17,"desired":21,"up":0.5,"down":0.5}."#
    )

    @Option(help: "The coordinator's ingest address.")
    var ingest = "tcp://127.0.0.1:7600"

    @Option(help: "Lines per request.")
    var batch = 1000

    @Option(help: DurationArgument.connectTimeoutHelp)
    var connectTimeout = DurationArgument.defaultConnectTimeout

    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        try Address.validate(ingest, flag: "--ingest")
        _ = try security.endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout)
    }

    func run() async throws {
        var tally = SendTally(client: IngestClient(try security.endpoint(url: ingest, flag: "--ingest", connectTimeout: connectTimeout)))
        var lines: [(number: Int, json: String)] = []
        var number = 0
        while let line = readLine() {
            number += 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            // A line that is not JSON would make the whole batch "not JSON": report it here.
            do {
                _ = try JSONParser.parse(Array(trimmed.utf8))
            } catch {
                tally.report(line: number, "not JSON: \(error)")
                continue
            }
            lines.append((number, trimmed))
            if lines.count >= batch {
                try await tally.send(lines)
                lines.removeAll(keepingCapacity: true)
            }
        }
        try await tally.send(lines)
        print("accepted \(tally.accepted), rejected \(tally.rejected)")
        if tally.rejected > 0 { throw ExitCode(2) }
    }
}

/// What `send` has sent so far; errors name the input line.
struct SendTally {
    let client: IngestClient
    var accepted = 0
    var rejected = 0

    mutating func report(line: Int, _ error: String) {
        FileHandle.standardError.write(Data("line \(line): \(error)\n".utf8))
        rejected += 1
    }

    mutating func send(_ lines: [(number: Int, json: String)]) async throws {
        guard !lines.isEmpty else { return }
        let reply = try await client.send(IngestBody.json(lines.map(\.json))).reply
        if let refusal = reply.refusal {
            FileHandle.standardError.write(Data("lines \(lines[0].number)-\(lines[lines.count - 1].number): \(refusal)\n".utf8))
            rejected += lines.count
        }
        for rejection in reply.rejected where lines.indices.contains(rejection.index) {
            report(line: lines[rejection.index].number, rejection.error)
        }
        accepted += reply.accepted
    }
}

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "Print heater commands as they are published (one JSON per line).")

    @Option(help: "The coordinator's publish address.")
    var publish = "tcp://127.0.0.1:7601"

    @Option(help: "Only this sensor.")
    var sensor: UInt64?

    @Option(help: "Stop after this many commands.")
    var count: Int?

    @Option(help: DurationArgument.connectTimeoutHelp)
    var connectTimeout = DurationArgument.defaultConnectTimeout

    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        try Address.validate(publish, flag: "--publish")
        _ = try security.endpoint(url: publish, flag: "--publish", connectTimeout: connectTimeout)
    }

    func run() async throws {
        let feed = try await FeedSubscriber(try security.endpoint(url: publish, flag: "--publish", connectTimeout: connectTimeout), sensor: sensor)
        do {
            var seen = 0
            while count.map({ seen < $0 }) ?? true {
                for event in try await feed.nextEvents() where count.map({ seen < $0 }) ?? true {
                    FileHandle.standardOutput.write(Data(event.encodeJSONLine() + [0x0A]))
                    seen += 1
                }
            }
        } catch {
            await feed.close()
            throw error
        }
        await feed.close()
    }
}
