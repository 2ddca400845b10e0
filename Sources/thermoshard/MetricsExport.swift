import Metrics
import Observability
import Prometheus

/// The process's metrics registry: swift-metrics bootstrapped with swift-prometheus, once, at
/// the start of a long-running subcommand (before anything creates a metric).
enum MetricsExport {
    static let registry = PrometheusCollectorRegistry()

    static func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = MetricName.durationBuckets
        factory.valueHistogramBuckets[MetricName.checkpointSize] = MetricName.sizeBuckets
        MetricsSystem.bootstrap(factory)
    }

    /// Every metric in the Prometheus text format.
    static func text() -> String { registry.emitToString() }
}
