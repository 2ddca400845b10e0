import ArgumentParser
import Logging
import Storage

/// Options every long-running process shares.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func bootstrap(label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

/// Parses a duration such as `800ms`, `1s`, `1.5s` or `2m`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    let duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        guard let seconds = Self.seconds(argument) else { return nil }
        self.init(.nanoseconds(Int64(seconds * 1e9)))
    }

    private static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("s", 1), ("m", 60)]
        guard let (suffix, scale) = units.first(where: { text.hasSuffix($0.0) }),
              let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite, value * scale < 1e9
        else { return nil }
        return value * scale
    }

    var defaultValueDescription: String {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}

/// `--fsync always|interval|never`.
enum FsyncArgument: String, ExpressibleByArgument, CaseIterable {
    case always, interval, never
    var policy: FsyncPolicy { FsyncPolicy(rawValue: rawValue)! }
}
