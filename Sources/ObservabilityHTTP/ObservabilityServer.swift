import Foundation
import Hummingbird
public import Logging
import NIOCore
import Observability
public import ServiceLifecycle

/// The HTTP listener (Hummingbird 2 on NIO's own event loop threads), run as one more service
/// in the process's ServiceGroup:
///
/// | route | what |
/// |---|---|
/// | `GET /metrics` | every metric, Prometheus text format |
/// | `GET /healthz` | 200 while the process runs |
/// | `GET /readyz` | 200 when ready (coordinator: every partition owned, journal open), else 503 |
/// | `GET /api/status` | the status JSON (coordinator: as `thermoshard status --json`) |
/// | `GET /` | the dashboard page (coordinator) |
/// | `GET /api/events` | server-sent events: `snapshot` a second, `event` (joins, failovers, handovers, fencing), `control` |
/// | `GET /api/history` | the last minutes of points and events |
/// | `GET /api/control` | the control-quality reports kept |
///
/// On the coordinator it also samples the status once a second (``StatusSampler``) and sends
/// it to the event streams. Graceful shutdown ends every event stream, then the server.
public struct ObservabilityServer: Service {
    public let address: HTTPAddress
    let endpoints: HTTPEndpoints
    let logger: Logger
    private let hub = EventHub()
    /// Called with the port bound (useful with port 0).
    let onListening: @Sendable (Int) -> Void

    public init(address: HTTPAddress, endpoints: HTTPEndpoints, logger: Logger, onListening: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.address = address
        self.endpoints = endpoints
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let router = Router()
        let endpoints = endpoints
        let hub = hub
        router.get("/metrics") { _, _ -> Response in
            Self.text(await endpoints.metrics(), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/healthz") { _, _ -> Response in Self.text("ok\n") }
        router.get("/readyz") { _, _ -> Response in
            let (ready, reason) = await endpoints.readiness()
            return Self.text((ready ? "ready: " : "not ready: ") + reason + "\n", status: ready ? .ok : .serviceUnavailable)
        }
        router.get("/api/status") { _, _ -> Response in Self.json(await endpoints.status()) }
        if let dashboard = endpoints.dashboard {
            router.get("/") { _, _ -> Response in Self.text(DashboardPage.html, type: "text/html; charset=utf-8") }
            router.get("/api/history") { _, _ -> Response in Self.json(await dashboard.sampler.history()) }
            router.get("/api/control") { _, _ -> Response in
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                return Self.json((try? [UInt8](encoder.encode(dashboard.control()))) ?? Array("[]".utf8))
            }
            router.get("/api/events") { _, _ -> Response in
                let stream = hub.subscribe()
                var headers = HTTPFields()
                headers[.contentType] = "text/event-stream"
                headers[.cacheControl] = "no-cache"
                return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                    for await frame in stream { try await writer.write(ByteBuffer(bytes: frame)) }
                    try await writer.finish(nil)
                })
            }
        }
        let logger = logger
        let onListening = onListening
        let address = address
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "thermoshard"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                logger.info("http listening", metadata: ["address": "\(address.host):\(port)", "url": "http://\(address.host.contains(":") ? "[\(address.host)]" : address.host):\(port)/"])
                onListening(port)
            },
            logger: logger
        )
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                if let dashboard = endpoints.dashboard {
                    group.addTask { await Self.sample(dashboard, hub) }
                }
                try await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            hub.close()
        }
    }

    /// Once a second: a status snapshot and its events to every stream, and a control report
    /// if a new one arrived. Ends when cancelled or the hub is closed.
    static func sample(_ dashboard: HTTPEndpoints.Dashboard, _ hub: EventHub) async {
        var lastControl: Int64?
        while !Task.isCancelled {
            if let (snapshot, events) = await dashboard.sampler.sample() {
                hub.publish("snapshot", snapshot)
                for event in events { hub.publish("event", await dashboard.sampler.encode(event)) }
            }
            if let report = dashboard.control().last, report.timeMilliseconds != lastControl {
                lastControl = report.timeMilliseconds
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                if let data = try? encoder.encode(report) { hub.publish("control", [UInt8](data)) }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    static func text(_ body: String, status: HTTPResponse.Status = .ok, type: String = "text/plain; charset=utf-8") -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    static func json(_ body: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
