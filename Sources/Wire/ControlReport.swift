/// What a simulator sees of control quality, sent to the coordinator about once a second with
/// the admin command `observe` (`{"command":"observe","control":{...}}`, reply `{"ok":"..."}`)
/// and kept there in a bounded ring for the dashboard (`GET /api/control`, the `control`
/// event of `/api/events`).
public struct ControlReport: Sendable, Codable, Equatable {
    /// One sensor at one moment: its temperature, its band and its heater.
    public struct Sample: Sendable, Codable, Equatable {
        public var sensor: UInt64
        public var temperature: Double
        public var desired: Double
        public var up: Double
        public var down: Double
        /// Whether the heater is on (the last command the simulator followed).
        public var heating: Bool
        public init(sensor: UInt64, temperature: Double, desired: Double, up: Double, down: Double, heating: Bool) {
            self.sensor = sensor
            self.temperature = temperature
            self.desired = desired
            self.up = up
            self.down = down
            self.heating = heating
        }
        /// Outside `desired - down ... desired + up`.
        public var outOfBand: Bool { temperature > desired + up || temperature < desired - down }
    }

    /// Who reports (a simulator's name).
    public var source: String
    /// Wall-clock time of the observation, milliseconds since 1970.
    public var timeMilliseconds: Int64
    /// Simulated seconds since the simulation started.
    public var simulatedSeconds: Double
    /// A fixed sample of sensors.
    public var samples: [Sample]
    public var sensors: Int
    /// The fraction of the fleet out of its band now, and of all sensor-time so far.
    public var outOfBand: Double
    public var outOfBandTime: Double
    public var heating: Int
    public var meanError: Double

    enum CodingKeys: String, CodingKey {
        case source, samples, sensors, heating
        case timeMilliseconds = "time_ms"
        case simulatedSeconds = "simulated_s"
        case outOfBand = "out_of_band"
        case outOfBandTime = "out_of_band_time"
        case meanError = "mean_error"
    }

    public init(source: String, timeMilliseconds: Int64, simulatedSeconds: Double, samples: [Sample], sensors: Int,
                outOfBand: Double, outOfBandTime: Double, heating: Int, meanError: Double) {
        self.source = source
        self.timeMilliseconds = timeMilliseconds
        self.simulatedSeconds = simulatedSeconds
        self.samples = samples
        self.sensors = sensors
        self.outOfBand = outOfBand
        self.outOfBandTime = outOfBandTime
        self.heating = heating
        self.meanError = meanError
    }

    /// The most samples one report may carry (the coordinator refuses more).
    public static let maximumSamples = 64
}
