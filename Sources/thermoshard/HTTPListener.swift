import ArgumentParser
import Coordinator
import Foundation
import Logging
import Observability
import ObservabilityHTTP
import ServiceLifecycle
import Worker

/// `--http HOST:PORT` or `off`.
struct HTTPArgument: ExpressibleByArgument, Sendable {
    let address: HTTPAddress?

    init(_ address: HTTPAddress?) { self.address = address }

    init?(argument: String) {
        if argument == "off" || argument.isEmpty {
            address = nil
            return
        }
        guard let address = HTTPAddress(argument) else { return nil }
        self.address = address
    }

    var defaultValueDescription: String { address?.description ?? "off" }

    static let help = "HTTP listener for /metrics (Prometheus), /healthz, /readyz and /api/status, as HOST:PORT (port 0: any free port), or off. Plain HTTP without authentication: a non-loopback address is used only when given explicitly, with a warning."
}

enum HTTPListener {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// The listener of a coordinator: metrics, health, readiness, status and the dashboard.
    static func coordinator(_ service: CoordinatorService, at address: HTTPAddress, logger: Logger) -> ObservabilityServer {
        let probe = service.probe
        let sampler = StatusSampler(journalDirectory: probe.journalDirectory) { await probe.status() }
        let endpoints = HTTPEndpoints(
            metrics: {
                _ = await sampler.refresh()
                return MetricsExport.text() + (await sampler.partitionFamilies())
            },
            readiness: {
                guard let (report, running) = await probe.status() else { return (false, "the coordinator is starting") }
                return isReady(report, running: running)
            },
            status: { await probe.statusJSON() },
            dashboard: .init(sampler: sampler, control: { probe.controlReports })
        )
        warnIfExposed(address, logger: logger)
        return ObservabilityServer(address: address, endpoints: endpoints, logger: logger)
    }

    /// The listener of a worker: metrics, health, readiness (registered) and its own status.
    static func worker(_ service: WorkerService, at address: HTTPAddress, logger: Logger) -> ObservabilityServer {
        let probe = service.probe
        let endpoints = HTTPEndpoints(
            metrics: { MetricsExport.text() },
            readiness: {
                let snapshot = probe.snapshot
                return snapshot.registered ? (true, "registered, \(snapshot.partitions.count) partitions") : (false, "not registered with the coordinator")
            },
            status: { (try? [UInt8](encoder.encode(probe.snapshot))) ?? [] }
        )
        warnIfExposed(address, logger: logger)
        return ObservabilityServer(address: address, endpoints: endpoints, logger: logger)
    }

    /// The listener of a simulator: metrics and health only.
    static func simulator(at address: HTTPAddress, logger: Logger) -> ObservabilityServer {
        warnIfExposed(address, logger: logger)
        return ObservabilityServer(address: address, endpoints: HTTPEndpoints(
            metrics: { MetricsExport.text() }, readiness: { (true, "running") }, status: { Array("{}".utf8) }
        ), logger: logger)
    }

    static func warnIfExposed(_ address: HTTPAddress, logger: Logger) {
        if !address.isLoopback {
            logger.warning("the HTTP listener serves metrics and status without authentication beyond loopback", metadata: ["http": "\(address)"])
        }
    }
}
