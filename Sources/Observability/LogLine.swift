public import Foundation
public import Logging

/// How a log line is written: `text` (`2026-12-02T10:30:00.123Z info label: message key=value`)
/// or `json` (one object a line, for log shippers; the schema is stable:
/// `{"ts":"2026-12-02T10:30:00.123Z","level":"info","label":"...","message":"...","metadata":{"key":"value"}}`,
/// `metadata` always present, its values strings).
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// A swift-log handler writing one line per event to standard error, with a UTC timestamp in
/// milliseconds, in either ``LogFormat``.
public struct LogLineHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public let label: String
    public let format: LogFormat
    private let write: @Sendable (String) -> Void

    public init(label: String, format: LogFormat, level: Logger.Level, write: @escaping @Sendable (String) -> Void = LogLineHandler.standardError) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.write = write
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(line.utf8))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        write(Self.line(format: format, time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: merged))
    }

    /// The line, newline included.
    public static func line(format: LogFormat, time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        let ts = timestamp(time)
        let keys = metadata.keys.sorted()
        switch format {
        case .text:
            let pairs = keys.map { " \($0)=\(metadata[$0]!)" }.joined()
            return "\(ts) \(level) \(label): \(message)\(pairs)\n"
        case .json:
            let fields = keys.map { "\(quoted($0)):\(quoted("\(metadata[$0]!)"))" }.joined(separator: ",")
            return #"{"ts":\#(quoted(ts)),"level":\#(quoted(level.rawValue)),"label":\#(quoted(label)),"message":\#(quoted(message)),"metadata":{\#(fields)}}"# + "\n"
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let ms = Int(milliseconds % 1000)
        let fraction = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

    /// A JSON string literal.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
