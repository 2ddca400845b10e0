public import Wire

/// What the dashboard shows over time, made from successive status reports (one a second):
/// throughput and latency points for the last minutes, a timeline of joins, failovers,
/// leaves, handovers and fencing, and each partition's lag age. A value with the time passed
/// in, so tests drive it report by report; it never touches the data path.
public struct ClusterObserver: Sendable {
    /// One second of the cluster.
    public struct Point: Sendable, Codable, Equatable {
        public var timeMilliseconds: Int64
        public var acceptedPerSecond: Double
        public var processedPerSecond: Double
        public var commandsPerSecond: Double
        public var refusedPerSecond: Double
        public var lag: UInt64
        public var workers: Int
        public var ingest: LatencyWindow.Summary?
        public var readingToCommand: LatencyWindow.Summary?
        enum CodingKeys: String, CodingKey {
            case lag, workers, ingest
            case timeMilliseconds = "t"
            case acceptedPerSecond = "accepted"
            case processedPerSecond = "processed"
            case commandsPerSecond = "commands"
            case refusedPerSecond = "refused"
            case readingToCommand = "reading_to_command"
        }
    }

    /// Something that happened to membership or ownership.
    public struct Event: Sendable, Codable, Equatable {
        public enum Kind: String, Sendable, Codable { case joined, failover, left, handover, fenced }
        public var timeMilliseconds: Int64
        public var kind: Kind
        public var worker: String?
        public var partitions: Int
        public var detail: String
        enum CodingKeys: String, CodingKey {
            case kind, worker, partitions, detail
            case timeMilliseconds = "t"
        }
    }

    public static let historyCapacity = 600
    public static let eventCapacity = 200

    public private(set) var history: [Point] = []
    public private(set) var events: [Event] = []
    public private(set) var latest: StatusReport?
    private var latestTime: Int64 = 0
    private var refusedTotal: UInt64 = 0
    /// Per partition: (head, when it was first seen) while items wait, oldest first.
    private var heads: [[(head: UInt64, time: Int64)]] = []

    public init() {}

    /// Seconds each partition's oldest unprocessed item has waited (at the sampling's
    /// resolution), for the `thermoshard_partition_lag_seconds` gauges.
    public func lagAges(now: Int64) -> [Double] {
        guard let latest else { return [] }
        return latest.partitions.map { partition in
            guard partition.id < heads.count, partition.lag > 0,
                  let first = heads[partition.id].first(where: { $0.head > partition.processed }) else { return 0 }
            return Double(max(0, now - first.time)) / 1000
        }
    }

    /// Takes the report of `now` (milliseconds since 1970); `refused` is the total of refused
    /// requests so far. Returns the events it found.
    @discardableResult
    public mutating func observe(_ report: StatusReport, now: Int64, refused: UInt64,
                                 ingest: LatencyWindow.Summary? = nil, readingToCommand: LatencyWindow.Summary? = nil) -> [Event] {
        var found: [Event] = []
        if let previous = latest {
            let seconds = max(0.001, Double(now - latestTime) / 1000)
            func rate(_ a: UInt64, _ b: UInt64) -> Double { b >= a ? Double(b - a) / seconds : 0 }
            append(Point(
                timeMilliseconds: now,
                acceptedPerSecond: rate(previous.counters.accepted, report.counters.accepted),
                processedPerSecond: rate(previous.counters.processed, report.counters.processed),
                commandsPerSecond: rate(previous.counters.commands, report.counters.commands),
                refusedPerSecond: rate(refusedTotal, refused),
                lag: report.partitions.reduce(0) { $0 + $1.lag }, workers: report.workers.count,
                ingest: ingest, readingToCommand: readingToCommand))
            found = Self.events(from: previous, to: report, now: now)
        } else {
            // The first report: who is a member already.
            found = report.workers.map {
                Event(timeMilliseconds: now, kind: .joined, worker: $0.id, partitions: $0.partitions.count,
                      detail: "\($0.id) is a member (incarnation \($0.incarnation), \($0.partitions.count) partitions)")
            }
        }
        for event in found { append(event) }
        trackHeads(report, now: now)
        latest = report
        latestTime = now
        refusedTotal = refused
        return found
    }

    private mutating func append(_ point: Point) {
        history.append(point)
        if history.count > Self.historyCapacity { history.removeFirst(history.count - Self.historyCapacity) }
    }

    private mutating func append(_ event: Event) {
        events.append(event)
        if events.count > Self.eventCapacity { events.removeFirst(events.count - Self.eventCapacity) }
    }

    private mutating func trackHeads(_ report: StatusReport, now: Int64) {
        if heads.count != report.partitions.count { heads = Array(repeating: [], count: report.partitions.count) }
        for partition in report.partitions where partition.id < heads.count {
            var samples = heads[partition.id]
            samples.removeAll { $0.head <= partition.processed }
            if partition.lag > 0, samples.last.map({ $0.head < partition.head }) ?? true {
                samples.append((partition.head, now))
                // Bounded: beyond a minute of samples the oldest stands for the rest.
                if samples.count > 60 { samples.remove(at: 1) }
            }
            heads[partition.id] = samples
        }
    }

    /// Joins, failovers, leaves, handovers and fencing between two reports.
    static func events(from previous: StatusReport, to report: StatusReport, now: Int64) -> [Event] {
        var events: [Event] = []
        let before = Dictionary(previous.workers.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(report.workers.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var lost = Int(clamping: report.counters.workersLost &- previous.counters.workersLost)
        if report.counters.workersLost < previous.counters.workersLost { lost = 0 }
        for worker in previous.workers {
            guard after[worker.id]?.incarnation != worker.incarnation else { continue }
            let held = Set(worker.partitions)
            var to: [String: Int] = [:]
            var unassigned = 0
            for partition in report.partitions where held.contains(partition.id) {
                if let owner = partition.owner { to[owner, default: 0] += 1 } else { unassigned += 1 }
            }
            var moved = to.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }
            if unassigned > 0 { moved.append("\(unassigned) unassigned") }
            let destination = moved.isEmpty ? "" : ": partitions to " + moved.joined(separator: ", ")
            if lost > 0 {
                lost -= 1
                events.append(Event(timeMilliseconds: now, kind: .failover, worker: worker.id, partitions: held.count,
                                    detail: "\(worker.id) lost, \(held.count) partitions fail over" + destination))
            } else {
                events.append(Event(timeMilliseconds: now, kind: .left, worker: worker.id, partitions: held.count,
                                    detail: "\(worker.id) left" + destination))
            }
        }
        for worker in report.workers where before[worker.id]?.incarnation != worker.incarnation {
            events.append(Event(timeMilliseconds: now, kind: .joined, worker: worker.id, partitions: worker.partitions.count,
                                detail: "\(worker.id) joined (incarnation \(worker.incarnation))"))
        }
        // Handovers: a partition that went from one live owner (still a member) to another.
        var handovers: [String: Int] = [:]
        for (old, new) in zip(previous.partitions, report.partitions) {
            guard let from = old.owner, let to = new.owner, from != to,
                  let member = after[from], member.incarnation == before[from]?.incarnation else { continue }
            handovers["\(from) → \(to)", default: 0] += 1
        }
        for (pair, n) in handovers.sorted(by: { $0.key < $1.key }) {
            events.append(Event(timeMilliseconds: now, kind: .handover, worker: String(pair.split(separator: " ").first ?? ""),
                                partitions: n, detail: "handover \(pair): \(n) partitions"))
        }
        if report.counters.fenced > previous.counters.fenced {
            let n = report.counters.fenced - previous.counters.fenced
            events.append(Event(timeMilliseconds: now, kind: .fenced, worker: nil, partitions: 0,
                                detail: "\(n) results, checkpoints or polls refused from former owners (fenced)"))
        }
        return events
    }
}
