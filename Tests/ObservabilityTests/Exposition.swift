import Metrics
import Observability
import Prometheus

/// The process's metrics as `GET /metrics` serves them: swift-metrics bootstrapped with
/// swift-prometheus exactly as the executable does (MetricsExport), once for the test process,
/// and a parser of the Prometheus text format for what the tests read back.
///
/// The registry is process-wide, so tests that emit through it live in one serialized suite
/// (``ExportedMetricsTests``) and compare values before and after.
enum Exposition {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = MetricName.durationBuckets
        factory.valueHistogramBuckets[MetricName.checkpointSize] = MetricName.sizeBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Bootstraps (once); call before creating anything that makes metrics.
    static func start() { _ = registry }

    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Scrape {
        var samples: [Sample] = []
        /// `# TYPE` lines: name to counter, gauge, histogram, ...
        var types: [String: String] = [:]

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }

        /// Every sample of `name`, whatever its labels.
        func all(_ name: String) -> [Sample] { samples.filter { $0.name == name } }
    }

    enum ParseError: Error, CustomStringConvertible {
        case line(String)
        var description: String { if case .line(let l) = self { "not a sample line: \(l)" } else { "" } }
    }

    /// The registry's text followed by `appended` (what `/metrics` adds to it, such as
    /// ``StatusMetrics/partitionFamilies()``).
    static func scrape(_ appended: String = "") throws -> Scrape { try parse(registry.emitToString() + appended) }

    /// The text exposition format: `# TYPE name kind`, `name{label="value",...} number`.
    static func parse(_ text: String) throws -> Scrape {
        var out = Scrape()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 { out.types[String(parts[2])] = String(parts[3]) }
                continue
            }
            if line.hasPrefix("#") { continue }
            var rest = Substring(line)
            guard let nameEnd = rest.firstIndex(where: { $0 == "{" || $0 == " " }) else { throw ParseError.line(String(line)) }
            let name = String(rest[..<nameEnd])
            rest = rest[nameEnd...]
            var labels: [String: String] = [:]
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    guard let eq = rest.firstIndex(of: "="), rest[rest.index(after: eq)] == "\"" else { throw ParseError.line(String(line)) }
                    let key = String(rest[..<eq])
                    rest = rest[rest.index(eq, offsetBy: 2)...]
                    var value = ""
                    while let c = rest.first, c != "\"" {
                        if c == "\\" {
                            rest = rest.dropFirst()
                            switch rest.first {
                            case "n": value.append("\n")
                            case let other?: value.append(other)
                            case nil: throw ParseError.line(String(line))
                            }
                        } else {
                            value.append(c)
                        }
                        rest = rest.dropFirst()
                    }
                    guard rest.first == "\"" else { throw ParseError.line(String(line)) }
                    rest = rest.dropFirst()
                    if rest.first == "," { rest = rest.dropFirst() }
                    labels[key] = value
                    guard !rest.isEmpty else { throw ParseError.line(String(line)) }
                }
                rest = rest.dropFirst()
            }
            let number = rest.trimmingPrefix(" ").split(separator: " ").first.map(String.init) ?? ""
            let value: Double? = switch number {
            case "+Inf": .infinity
            case "-Inf": -.infinity
            case "NaN": .nan
            default: Double(number)
            }
            guard let value else { throw ParseError.line(String(line)) }
            out.samples.append(Sample(name: name, labels: labels, value: value))
        }
        return out
    }
}
