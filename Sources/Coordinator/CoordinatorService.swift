import Foundation
public import Logging
import NNG
public import ServiceLifecycle
import Storage
import Wire

/// The coordinator process: binds the four sockets and drives ``Coordinator`` with them.
///
/// - ingest (REP): producers' JSON or binary batches, answered with what was accepted;
/// - publish (PUB): the live, best-effort feed of heater commands;
/// - cluster (REP): workers' requests (register, poll, leave); a lost connection is a lost worker;
/// - admin (REP): status and control requests as JSON.
///
/// Every socket is served by a few nng contexts, each a task that suspends on nng's aio, so no
/// nng call ever blocks Swift's cooperative pool. On graceful shutdown (SIGTERM, SIGINT) it
/// answers held polls, closes the sockets and waits for the checkpoint writes to reach disk.
public struct CoordinatorService: Service {
    public let configuration: CoordinatorConfiguration
    let logger: Logger

    /// Concurrent requests in flight per socket.
    static let ingestContexts = 8
    static let clusterContexts = 128

    public init(configuration: CoordinatorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let directory = try DataDirectory.open(path: configuration.dataDirectory, partitions: configuration.partitions)
        let started = ContinuousClock.now
        let (disk, recovered) = try await DiskWriter.run { try Recovery.run(directory, configuration: configuration) }
        for note in recovered.notes { logger.info("recovered \(note)") }
        for error in recovered.errors { logger.error("recovery: \(error)") }
        logger.info("recovery done", metadata: [
            "ms": "\((ContinuousClock.now - started).nanoseconds / 1_000_000)",
            "items_to_replay": "\(recovered.logs.reduce(0) { $0 + $1.items.count })",
        ])
        let coordinator = Coordinator(configuration: configuration, directory: directory, disk: disk, recovered: recovered, logger: logger)

        let ingest = try Socket(.rep)
        // nng drops a connection whose message exceeds its limit without a word; keep that for
        // absurd sizes and answer merely oversized requests with a clear error instead.
        try ingest.setReceiveMaxSize(configuration.maxRequestBytes * 4)
        let publish = try Socket(.pub)
        try publish.setSendBuffer(8192)
        let cluster = try Socket(.rep)
        try cluster.setReceiveMaxSize(ClusterProtocol.maximumFrameSize)
        let pipeEvents = cluster.pipeEvents()
        let admin = try Socket(.rep)
        try admin.setReceiveMaxSize(1 << 16)
        let sockets = [ingest, publish, cluster, admin]
        defer { for socket in sockets { socket.close() } }
        for (socket, url, name) in [(ingest, configuration.ingestURL, "ingest"), (publish, configuration.publishURL, "publish"),
                                    (cluster, configuration.clusterURL, "cluster"), (admin, configuration.adminURL, "admin")] {
            do {
                try socket.listen(url)
            } catch {
                throw StartupError("cannot listen on \(url) (\(name)): \(error)")
            }
        }
        logger.info("coordinator started", metadata: [
            "data": "\(directory.path)", "partitions": "\(directory.partitionCount)",
            "ingest": "\(configuration.ingestURL)", "publish": "\(configuration.publishURL)",
            "cluster": "\(configuration.clusterURL)", "admin": "\(configuration.adminURL)",
        ])

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<Self.ingestContexts {
                    if let context = try? ingest.makeContext() {
                        group.addTask { await Self.serveIngest(context, coordinator, limit: configuration.maxRequestBytes) }
                    }
                }
                for _ in 0..<Self.clusterContexts {
                    if let context = try? cluster.makeContext() {
                        group.addTask { await Self.serveCluster(context, coordinator) }
                    }
                }
                if let context = try? admin.makeContext() {
                    group.addTask { await Self.serveAdmin(context, coordinator) }
                }
                group.addTask {
                    // PUB never waits (it queues or drops per subscriber), so a group commit's
                    // messages go out in one pass without an await per message.
                    for await messages in coordinator.feed {
                        for message in messages { try? publish.trySend(message) }
                    }
                }
                group.addTask {
                    for await event in pipeEvents {
                        if case .removed(let pipe) = event { await coordinator.pipeRemoved(pipe.id) }
                    }
                }
                group.addTask {
                    while await coordinator.isRunning {
                        await coordinator.tick()
                        await coordinator.syncTick()
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                    for socket in sockets { socket.close() }
                }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            Task {
                await coordinator.shutdown()
                for socket in sockets { socket.close() }
            }
        }
        // Let queued writes reach the disk before the process ends.
        disk.close()
        if let failure = await coordinator.failure { throw StartupError("stopped after a storage failure: \(failure)") }
        logger.info("coordinator stopped")
    }

    static func serveIngest(_ context: Context, _ coordinator: Coordinator, limit: Int) async {
        while true {
            let bytes: [UInt8]
            do {
                bytes = try await context.receive().bytes
            } catch {
                if error == .closed || error == .canceled { return }
                continue
            }
            let reply: [UInt8]
            if bytes.count > limit {
                let reason = "request of \(bytes.count) bytes exceeds the limit of \(limit) bytes; split it"
                await coordinator.countRejectedRequest(reason)
                reply = IngestReply.refused(reason, code: .tooLarge).encode()
            } else {
                switch IngestDecoder.decode(bytes) {
                case .success(let request):
                    reply = await coordinator.ingest(request)
                case .failure(let error):
                    await coordinator.countRejectedRequest(error.description)
                    reply = IngestReply.refused(error.description, code: error.code).encode()
                }
            }
            do {
                try await context.send(reply)
            } catch {
                if error == .closed || error == .canceled { return }
            }
        }
    }

    static func serveCluster(_ context: Context, _ coordinator: Coordinator) async {
        while true {
            let bytes: [UInt8]
            let pipe: UInt32?
            do {
                let message = try await context.receive()
                pipe = message.pipe?.id
                bytes = message.bytes
            } catch {
                if error == .closed || error == .canceled { return }
                continue
            }
            let reply: ClusterReply
            do {
                reply = await coordinator.handle(try ClusterRequest.decode(bytes), pipe: pipe)
            } catch {
                await coordinator.countMalformed(error)
                reply = .refused(reason: error.description)
            }
            do {
                try await context.send(reply.encode())
            } catch {
                if error == .closed || error == .canceled { return }
            }
        }
    }

    static func serveAdmin(_ context: Context, _ coordinator: Coordinator) async {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        while true {
            let bytes: [UInt8]
            do {
                bytes = try await context.receive().bytes
            } catch {
                if error == .closed || error == .canceled { return }
                continue
            }
            let reply: Data
            do {
                let request = try JSONDecoder().decode(AdminRequest.self, from: Data(bytes))
                reply = try await handleAdmin(request, coordinator, encoder)
            } catch let error as AdminError {
                reply = (try? encoder.encode(error)) ?? Data()
            } catch {
                reply = (try? encoder.encode(AdminError(error: "bad admin request: \(error)"))) ?? Data()
            }
            do {
                try await context.send([UInt8](reply))
            } catch {
                if error == .closed || error == .canceled { return }
            }
        }
    }

    static func handleAdmin(_ request: AdminRequest, _ coordinator: Coordinator, _ encoder: JSONEncoder) async throws -> Data {
        switch request.command {
        case "status":
            return try encoder.encode(await coordinator.status())
        case "drain":
            guard let worker = request.worker else { throw AdminError(error: "drain needs a worker") }
            return try encoder.encode(AdminOK(ok: try await coordinator.drain(worker, force: request.force ?? false)))
        case "commands":
            let limit = request.limit ?? 10_000
            guard (1...10_000).contains(limit) else { throw AdminError(error: "limit must be between 1 and 10000") }
            let wait = request.waitMilliseconds ?? 0
            guard (0...30_000).contains(wait) else { throw AdminError(error: "wait_ms must be between 0 and 30000") }
            do {
                return try encoder.encode(await coordinator.readCommands(from: request.from ?? 0, limit: limit, wait: .milliseconds(wait)))
            } catch {
                throw AdminError(error: "command log: \(error)")
            }
        default:
            throw AdminError(error: "unknown admin command '\(request.command)' (known: status, drain, commands)")
        }
    }
}

public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
