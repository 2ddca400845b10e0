public import Observability
public import Wire

/// What the HTTP listener serves, as closures over the process (coordinator, worker or
/// simulator): each answers from a snapshot and never waits on the data path.
public struct HTTPEndpoints: Sendable {
    /// The Prometheus text format (`GET /metrics`).
    public var metrics: @Sendable () async -> String
    /// `GET /readyz`: 200 when ready, 503 with the reason otherwise.
    public var readiness: @Sendable () async -> (ready: Bool, reason: String)
    /// `GET /api/status`: the process's status as JSON (the coordinator's is the same JSON as
    /// `thermoshard status --json`).
    public var status: @Sendable () async -> [UInt8]
    /// The coordinator's dashboard (`/`, `/api/events`, `/api/history`, `/api/control`); nil
    /// elsewhere.
    public var dashboard: Dashboard?

    public struct Dashboard: Sendable {
        public var sampler: StatusSampler
        /// The control-quality reports kept (oldest first).
        public var control: @Sendable () -> [ControlReport]
        public init(sampler: StatusSampler, control: @escaping @Sendable () -> [ControlReport]) {
            self.sampler = sampler
            self.control = control
        }
    }

    public init(metrics: @escaping @Sendable () async -> String,
                readiness: @escaping @Sendable () async -> (ready: Bool, reason: String),
                status: @escaping @Sendable () async -> [UInt8], dashboard: Dashboard? = nil) {
        self.metrics = metrics
        self.readiness = readiness
        self.status = status
        self.dashboard = dashboard
    }
}
