public import NNG
import ThermoshardClient

/// The request format the bench sends.
public enum BenchFormat: String, CaseIterable, Sendable {
    case binary, json
}

/// What one bench run does (the validated flags of `thermoshard bench`).
public struct BenchPlan: Sendable {
    public var ingest: String
    public var publish: String
    public var admin: String
    public var sensors: Int
    /// Exactly one of `readings` and `duration` (seconds) is set.
    public var readings: Int?
    public var duration: Double?
    public var rate: Double?
    public var format: BenchFormat
    public var batch: Int
    public var connections: Int
    /// TLS for `tls+tcp://` addresses, and the token sent to ingest and admin (`--token-file`).
    public var tls: TLSConfiguration?
    public var token: String?

    /// The endpoint of one of the plan's addresses, with its TLS and token.
    func endpoint(_ url: String, flag: String) -> Endpoint {
        Endpoint(url: url, flag: flag, tls: tls, token: token)
    }

    public init(ingest: String, publish: String, admin: String, sensors: Int, readings: Int?, duration: Double?, rate: Double?,
                format: BenchFormat, batch: Int, connections: Int) {
        precondition((readings == nil) != (duration == nil), "exactly one of readings and duration")
        precondition(connections >= 1 && connections <= sensors, "each connection drives its own sensors")
        self.ingest = ingest
        self.publish = publish
        self.admin = admin
        self.sensors = sensors
        self.readings = readings
        self.duration = duration
        self.rate = rate
        self.format = format
        self.batch = batch
        self.connections = connections
    }

    /// 1000 items per binary request, 200 per JSON one; when paced, small enough that each
    /// connection sends at least 100 requests per second (smooth pacing).
    public static func defaultBatch(format: BenchFormat, rate: Double?, connections: Int) -> Int {
        let standard = format == .binary ? 1000 : 200
        guard let rate else { return standard }
        return min(standard, max(1, Int(rate / Double(connections) / 100)))
    }
}
