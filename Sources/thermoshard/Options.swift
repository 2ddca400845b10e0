import ArgumentParser
import Logging
import Observability
import Storage
import Wire

/// Options every long-running process shares.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(help: "Log lines as text (timestamp in ms, level, label, message, key=value) or json (one object a line: ts, level, label, message, metadata).")
    var logFormat: LogFormatArgument = .text

    /// Bootstraps logging and logs the start-up line with every effective setting of
    /// `command` and where it came from.
    func bootstrap(label: String, command: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = logFormat.format
        LoggingSystem.bootstrap { label in LogLineHandler(label: label, format: format, level: level) }
        let logger = Logger(label: label)
        var metadata = Logger.Metadata()
        for setting in EffectiveSettings.settings(of: command) {
            metadata[setting.option] = "\(setting.value) (\(setting.source))"
        }
        logger.info("settings", metadata: metadata)
        return logger
    }
}

/// `--log-format text|json`.
enum LogFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case text, json
    var format: LogFormat { LogFormat(rawValue: rawValue)! }
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

/// `--feed text|binary`.
enum FeedArgument: String, ExpressibleByArgument, CaseIterable {
    case text, binary
    var format: FeedFormat { FeedFormat(rawValue: rawValue)! }
}

/// `--fsync always|interval|never`.
enum FsyncArgument: String, ExpressibleByArgument, CaseIterable {
    case always, interval, never
    var policy: FsyncPolicy { FsyncPolicy(rawValue: rawValue)! }
}

/// A failure while a command runs (the command line was fine): printed as `error: ...` on
/// standard error, without a usage line, and the process exits 1.
struct RuntimeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// nng addresses given on the command line, checked before anything starts.
enum Address {
    static let expected = "expected tcp://HOST:PORT, ipc:///path or inproc://name"

    /// Schemes whose address is `HOST:PORT` (`ws` and `wss` may add a path).
    private static let hostPortSchemes: Set<String> = [
        "tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4", "tls+tcp6", "ws", "ws4", "ws6", "wss", "wss4", "wss6",
    ]
    /// Schemes whose address is a path or a name.
    private static let nameSchemes: Set<String> = ["ipc", "inproc", "abstract"]

    /// Throws a ``ValidationError`` (a usage error) naming `flag`, the address and the form
    /// expected. A listener may leave the host empty or write `*` (every interface); a dialer
    /// must name a host and a port above 0.
    static func validate(_ url: String, flag: String, listening: Bool = false) throws {
        if let problem = problem(url, listening: listening) {
            throw ValidationError("invalid address '\(url)' for \(flag): \(problem.isEmpty ? "" : problem + "; ")\(expected)")
        }
    }

    /// Validates each `(flag, address)`.
    static func validate(_ addresses: [(flag: String, url: String)], listening: Bool = false) throws {
        for (flag, url) in addresses { try validate(url, flag: flag, listening: listening) }
    }

    /// What is wrong with `url` ("" when only its form is), or nil when it is fine.
    static func problem(_ url: String, listening: Bool) -> String? {
        guard let separator = url.range(of: "://") else { return "" }
        let scheme = url[..<separator.lowerBound].lowercased()
        let rest = url[separator.upperBound...]
        if nameSchemes.contains(scheme) { return rest.isEmpty ? "\(scheme):// needs a path or name" : nil }
        guard hostPortSchemes.contains(scheme) else { return "unknown scheme '\(scheme)'" }
        let path = rest.firstIndex(of: "/")
        if path != nil, scheme.hasPrefix("tcp") || scheme.hasPrefix("tls") { return "a tcp address has no path" }
        let hostPort = rest[..<(path ?? rest.endIndex)]
        let host: Substring
        let port: Substring
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]"), hostPort[hostPort.index(after: close)...].hasPrefix(":") else {
                return "an IPv6 address is written [ADDRESS]:PORT"
            }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            port = hostPort[hostPort.index(close, offsetBy: 2)...]
        } else {
            guard let colon = hostPort.lastIndex(of: ":") else { return "no port" }
            host = hostPort[..<colon]
            port = hostPort[hostPort.index(after: colon)...]
        }
        guard !port.isEmpty, port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber), let number = Int(port), number <= 65535,
              listening || number > 0
        else { return "the port must be a number from \(listening ? 0 : 1) to 65535" }
        if host.isEmpty || host == "*" { return listening ? nil : "no host" }
        return nil
    }
}

/// `--connect-timeout` as clients share it.
extension DurationArgument {
    static let defaultConnectTimeout = DurationArgument(.seconds(10))
    static let connectTimeoutHelp: ArgumentHelp =
        "How long to wait for the coordinator to accept a connection before giving up (exit 1)."
}
