import ArgumentParser
import Control
import Foundation
import NNG
import Wire

/// One request and its reply over a fresh REQ socket, with a deadline.
func request(_ url: String, _ bytes: [UInt8], timeout: Duration = .seconds(5)) async throws -> [UInt8] {
    let socket = try Socket(.req)
    defer { socket.close() }
    try socket.dial(url)
    do {
        try await socket.send(bytes, timeout: timeout)
        return try await socket.receive(timeout: timeout).bytes
    } catch {
        if error == .timedOut {
            throw ValidationError("no answer from \(url) within \(timeout): is the coordinator running?")
        }
        throw error
    }
}

/// Sends an ingest request and returns its reply, sending the same bytes again (after a
/// pause that doubles up to a second) while the coordinator refuses them with a retryable code
/// (overloaded, too many producers, shutting down), at most `attempts` times in all.
func sendIngest(_ url: String, _ body: [UInt8], attempts: Int = 30) async throws -> IngestReply {
    var pause = Duration.milliseconds(10)
    var attempt = 1
    while true {
        let reply = try IngestReply.decode(try await request(url, body))
        guard reply.error != nil, reply.retryable, attempt < attempts else { return reply }
        try await Task.sleep(for: pause)
        pause = min(pause * 2, .seconds(1))
        attempt += 1
    }
}

extension IngestReply {
    /// The refusal for a person: its code and text.
    var refusal: String? { error.map { "refused (\(code?.rawValue ?? "no code")): \($0)" } }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show workers, partitions and counters.")

    @Option(help: "The coordinator's admin address.")
    var admin = "tcp://127.0.0.1:7603"

    @Flag(help: "Print the coordinator's JSON instead of a table.")
    var json = false

    func run() async throws {
        let reply = try await request(admin, [UInt8](try JSONEncoder().encode(AdminRequest(command: "status"))))
        if json {
            print(String(decoding: reply, as: UTF8.self))
            return
        }
        if let error = try? JSONDecoder().decode(AdminError.self, from: Data(reply)) {
            throw ValidationError(error.error)
        }
        let status = try JSONDecoder().decode(StatusReport.self, from: Data(reply))
        print(StatusTable.render(status))
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

    func run() async throws {
        let ask = AdminRequest(command: "drain", worker: worker, force: force)
        let reply = try await request(admin, [UInt8](try JSONEncoder().encode(ask)))
        if let error = try? JSONDecoder().decode(AdminError.self, from: Data(reply)) {
            throw ValidationError(error.error)
        }
        print(try JSONDecoder().decode(AdminOK.self, from: Data(reply)).ok)
    }
}

enum StatusTable {
    static func render(_ status: StatusReport) -> String {
        var lines: [String] = []
        let c = status.counters
        lines.append("partitions \(status.partitionCount)  workers \(status.workers.count)  accepted \(c.accepted)  processed \(c.processed)  commands \(c.commands)  rejected \(c.rejected)+\(c.rejectedRequests) requests  dropped(no setting) \(c.droppedNoSetting)")
        lines.append("")
        lines.append(pad("WORKER", 24) + pad("PARTS", 7) + pad("STATE", 9) + "PARTITIONS")
        for worker in status.workers {
            lines.append(pad(worker.id, 24) + pad("\(worker.partitions.count)", 7) + pad(worker.leaving ? "leaving" : "active", 9) + ranges(worker.partitions))
        }
        let unassigned = status.partitions.filter { $0.owner == nil }.map(\.id)
        let moving = status.partitions.filter { $0.state == "releasing" }.map(\.id)
        if !unassigned.isEmpty { lines.append("unassigned: \(ranges(unassigned))") }
        if !moving.isEmpty { lines.append("being handed over: \(ranges(moving))") }
        let lag = status.partitions.reduce(UInt64(0)) { $0 + $1.lag }
        let oldest = status.partitions.compactMap(\.checkpointAgeMilliseconds).max()
        lines.append("lag \(lag) items" + (oldest.map { "  oldest checkpoint \($0) ms" } ?? ""))
        if let pauses = status.pauses, pauses.count > 0 {
            lines.append("moved partitions paused: median \(pauses.medianMilliseconds) ms, p99 \(pauses.p99Milliseconds) ms, max \(pauses.maxMilliseconds) ms (\(pauses.count) moves)")
        }
        let busy = status.partitions.filter { $0.lag > 0 || $0.state != "owned" }
        if !busy.isEmpty {
            lines.append("")
            lines.append(pad("PARTITION", 11) + pad("OWNER", 24) + pad("STATE", 12) + pad("LAG", 10) + "CHECKPOINT AGE")
            for p in busy.prefix(20) {
                lines.append(pad("\(p.id)", 11) + pad(p.owner ?? "-", 24) + pad(p.state, 12) + pad("\(p.lag)", 10) + (p.checkpointAgeMilliseconds.map { "\($0) ms" } ?? "-"))
            }
            if busy.count > 20 { lines.append("... and \(busy.count - 20) more (status --json has them all)") }
        }
        return lines.joined(separator: "\n")
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

    @Option(help: "Desired temperature.") var desired: Double
    @Option(help: "Switch the heater off above desired + up.") var up: Double
    @Option(help: "Switch the heater on below desired - down.") var down: Double

    @Option(help: "The coordinator's ingest address.")
    var ingest = "tcp://127.0.0.1:7600"

    func run() async throws {
        let setting: Setting
        do {
            setting = try Setting(desired: desired, up: up, down: down)
        } catch {
            throw ValidationError(error.description)
        }
        var batch = BinaryBatchEncoder()
        batch.append(.setting(sensor: sensor, setting))
        let reply = try await sendIngest(ingest, batch.finish())
        if let refusal = reply.refusal { throw ValidationError(refusal) }
        if let rejection = reply.rejected.first { throw ValidationError("rejected: \(rejection.error)") }
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

    func run() async throws {
        var tally = SendTally()
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
                try await tally.send(lines, to: ingest)
                lines.removeAll(keepingCapacity: true)
            }
        }
        try await tally.send(lines, to: ingest)
        print("accepted \(tally.accepted), rejected \(tally.rejected)")
        if tally.rejected > 0 { throw ExitCode(2) }
    }
}

/// What `send` has sent so far; errors name the input line.
struct SendTally {
    var accepted = 0
    var rejected = 0

    mutating func report(line: Int, _ error: String) {
        FileHandle.standardError.write(Data("line \(line): \(error)\n".utf8))
        rejected += 1
    }

    mutating func send(_ lines: [(number: Int, json: String)], to ingest: String) async throws {
        guard !lines.isEmpty else { return }
        let body = "[" + lines.map(\.json).joined(separator: ",") + "]"
        let reply = try await sendIngest(ingest, Array(body.utf8))
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

    func run() async throws {
        let socket = try Socket(.sub)
        defer { socket.close() }
        try socket.subscribe(to: sensor.map { Array("\($0) ".utf8) } ?? [])
        try socket.dial(publish)
        var seen = 0
        while count.map({ seen < $0 }) ?? true {
            let bytes = try await socket.receive().bytes
            guard let space = bytes.firstIndex(of: 0x20) else { continue }
            FileHandle.standardOutput.write(Data(bytes[(space + 1)...] + [0x0A]))
            seen += 1
        }
    }
}
