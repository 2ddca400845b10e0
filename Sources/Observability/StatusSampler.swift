import Foundation
public import Wire

/// Asks the coordinator for its status (a snapshot the actor answers; the data path never
/// waits for this) once a second and on every scrape, and keeps what the HTTP endpoints serve:
/// the metrics (``StatusMetrics``), the dashboard's history and timeline (``ClusterObserver``)
/// and the latest snapshot.
public actor StatusSampler {
    /// The coordinator's status and whether it runs (its journal open); nil if it has not
    /// started yet.
    public typealias Source = @Sendable () async -> (report: StatusReport, running: Bool)?

    private let source: Source
    private let journalDirectory: String?
    private var observer = ClusterObserver()
    private let metrics = StatusMetrics()
    private var encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public init(journalDirectory: String?, source: @escaping Source) {
        self.journalDirectory = journalDirectory
        self.source = source
    }

    private static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// A fresh status, with the metrics moved to it.
    public func refresh() async -> (report: StatusReport, running: Bool)? {
        guard let (report, running) = await source() else { return nil }
        let ready = isReady(report, running: running).ready
        metrics.export(report, lagAges: observer.lagAges(now: Self.now()), journalBytes: journalBytes(), ready: ready)
        return (report, running)
    }

    /// The per-partition families of the last refresh (``StatusMetrics/partitionFamilies()``),
    /// which `/metrics` appends to the registry's text.
    public func partitionFamilies() -> String { metrics.partitionFamilies() }

    /// The once-a-second sample: the dashboard's snapshot (JSON) and the events found since the
    /// last one.
    public func sample() async -> (snapshot: [UInt8], events: [ClusterObserver.Event])? {
        guard let (report, running) = await refresh() else { return nil }
        let now = Self.now()
        let tally = Refusals.snapshot()
        let events = observer.observe(report, now: now, refused: tally.refused.values.reduce(0, +),
                                      ingest: Timings.ingestRequest.takeWindow(), readingToCommand: Timings.readingToCommand.takeWindow())
        let snapshot = DashboardSnapshot(report: report, ready: isReady(report, running: running).ready, now: now,
                                         lagAges: observer.lagAges(now: now), point: observer.history.last,
                                         refused: tally.refused, rejected: tally.rejected, badFrames: tally.badFrames)
        return ((try? [UInt8](encoder.encode(snapshot))) ?? [], events)
    }

    /// The last minutes of points and events, for a page that just opened.
    public func history() -> [UInt8] {
        struct History: Encodable {
            let points: [ClusterObserver.Point]
            let events: [ClusterObserver.Event]
        }
        return (try? [UInt8](encoder.encode(History(points: observer.history, events: observer.events)))) ?? []
    }

    public func encode(_ event: ClusterObserver.Event) -> [UInt8] { (try? [UInt8](encoder.encode(event))) ?? [] }

    /// The ingest journal's size on disk (a directory listing, once a second at most).
    private func journalBytes() -> Int? {
        guard let journalDirectory,
              let names = try? FileManager.default.contentsOfDirectory(atPath: journalDirectory) else { return nil }
        return names.reduce(0) { total, name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: journalDirectory + "/" + name)
            return total + ((attributes?[.size] as? Int) ?? 0)
        }
    }
}
