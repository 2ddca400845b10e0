public import Wire

/// The latest control-quality reports from simulators (``ControlReport``), oldest first, at
/// most ``capacity``: what `/api/control` serves and the dashboard draws.
public struct ControlHistory: Sendable {
    public static let capacity = 600
    public private(set) var reports: [ControlReport] = []

    public init() {}

    public mutating func append(_ report: ControlReport) {
        reports.append(report)
        if reports.count > Self.capacity { reports.removeFirst(reports.count - Self.capacity) }
    }
}
