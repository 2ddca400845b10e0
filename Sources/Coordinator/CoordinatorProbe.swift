import Foundation
import Observability
import Synchronization
public import Wire

/// What the HTTP listener reads of a running coordinator, without touching its data path: the
/// status the actor answers as a snapshot (the same report as the admin `status`), whether it
/// runs, and the control-quality reports simulators send (admin `observe`), kept here in a
/// bounded ring rather than in the actor.
public final class CoordinatorProbe: Sendable {
    private struct Attached: Sendable {
        let coordinator: Coordinator
        let sockets: Sockets
    }

    private let attached = Mutex<Attached?>(nil)
    private let control = Mutex(ControlHistory())
    /// The ingest journal's directory, for its size.
    public let journalDirectory: String

    init(dataDirectory: String) {
        journalDirectory = dataDirectory + "/journal"
    }

    func attach(_ coordinator: Coordinator, _ sockets: Sockets) {
        attached.withLock { $0 = Attached(coordinator: coordinator, sockets: sockets) }
    }

    func detach() { attached.withLock { $0 = nil } }

    /// The status report (with connections, as `thermoshard status` gets it) and whether the
    /// coordinator runs with its journal open; nil before it has started.
    public func status() async -> (report: StatusReport, running: Bool)? {
        guard let attached = attached.withLock({ $0 }) else { return nil }
        var report = await attached.coordinator.status()
        report.connections = attached.sockets.statusConnections
        let running = await attached.coordinator.isServing
        return (report, running)
    }

    /// The status as `thermoshard status --json` prints it.
    public func statusJSON() async -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let (report, _) = await status() else { return Array(#"{"error":"the coordinator is starting"}"#.utf8) }
        return (try? [UInt8](encoder.encode(report))) ?? []
    }

    func record(_ report: ControlReport) { control.withLock { $0.append(report) } }

    /// The control-quality reports kept, oldest first.
    public var controlReports: [ControlReport] { control.withLock { $0.reports } }
}
