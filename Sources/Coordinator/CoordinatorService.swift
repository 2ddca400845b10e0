import Foundation
public import Logging
import NNG
public import ServiceLifecycle
import CoordinatorCore
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
    static let adminContexts = 32

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
            "items_to_replay": "\(recovered.stored.logs.reduce(0) { $0 + $1.items.count })",
        ])
        let coordinator = Coordinator(configuration: configuration, directory: directory, disk: disk, recovered: recovered.stored, logger: logger)
        let sockets = try Sockets(configuration, logger: logger)
        do {
            try sockets.listen(configuration)
        } catch {
            await sockets.close(logger: logger)
            await disk.close()
            throw error
        }
        logger.info("coordinator started", metadata: [
            "data": "\(directory.path)", "partitions": "\(directory.partitionCount)",
            "ingest": "\(configuration.ingestURL)", "publish": "\(configuration.publishURL)",
            "cluster": "\(configuration.clusterURL)", "admin": "\(configuration.adminURL)",
        ])

        // One shutdown path, taken once, whatever started it (SIGTERM, SIGINT, a storage
        // failure): the signal handler only tells the coordinator to stop; this task then
        // stops accepting, lets what is in flight finish, closes the sockets (off the
        // cooperative pool, one after another), waits for the serving tasks and flushes the disk.
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                let ingestLimit = configuration.maxRequestBytes
                let producers = configuration.producers
                for context in sockets.contexts(sockets.ingest, Self.ingestContexts) {
                    group.addTask {
                        await Self.serve(context, sockets.ingestInFlight) { message in
                            await Self.handleIngest(message.bytes, coordinator, limit: ingestLimit, producers: producers)
                        }
                    }
                }
                for context in sockets.contexts(sockets.cluster, Self.clusterContexts) {
                    group.addTask {
                        await Self.serve(context) { message in
                            let pipe = message.pipe?.id
                            let reply: ClusterReply
                            do throws(FrameError) {
                                let request = try ClusterRequest.decode(message.bytes)
                                reply = await coordinator.handle(request, pipe: pipe)
                            } catch {
                                await coordinator.countMalformed(error)
                                reply = .refused(reason: error.description)
                            }
                            return reply.encode()
                        }
                    }
                }
                // Quick calls and long polls share the admin socket: long polls are bounded by
                // the coordinator (Coordinator.maximumWaitingReaders), so contexts stay free.
                let operators = configuration.adminCredentials
                for context in sockets.contexts(sockets.admin, Self.adminContexts) {
                    group.addTask {
                        await Self.serve(context) { message in await Self.handleAdmin(message.bytes, coordinator, sockets, operators) }
                    }
                }
                group.addTask {
                    // PUB never waits (it queues or drops per subscriber), so a group commit's
                    // messages go out in one pass without an await per message.
                    for await messages in coordinator.feed {
                        for message in messages { try? sockets.publish.trySend(message) }
                    }
                }
                let pipeEvents = sockets.clusterPipeEvents
                group.addTask {
                    for await event in pipeEvents {
                        if case .removed(let pipe) = event { await coordinator.pipeRemoved(pipe.id) }
                    }
                }

                var lastSweep = ContinuousClock.now
                while await coordinator.isRunning {
                    await coordinator.tick()
                    await coordinator.syncTick()
                    if ContinuousClock.now - lastSweep >= .milliseconds(500) {
                        lastSweep = .now
                        sockets.closeSilentConnections()
                    }
                    try? await Task.sleep(for: .milliseconds(10))
                }
                logger.info("coordinator stopping")
                // New requests are refused now; let the ones in flight get their replies.
                await coordinator.finishInFlight(timeout: .seconds(2))
                let deadline = ContinuousClock.now + .seconds(1)
                while sockets.ingestInFlight.count > 0, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(5))
                }
                // Stop, cancel, close: no task may start an nng call on a context while it
                // closes (libnng 1.5.2 can then use a freed context), so every serving task is
                // cancelled (a waiting receive is cancelled through its aio) and has ended
                // before the contexts and sockets close.
                group.cancelAll()
                while await group.next() != nil {}
                await sockets.close(logger: logger)
            }
        } onGracefulShutdown: {
            Task { await coordinator.shutdown() }
        }
        // Let queued writes reach the disk before the process ends.
        await disk.close()
        if let failure = await coordinator.failure { throw StartupError("stopped after a storage failure: \(failure)") }
        logger.info("coordinator stopped")
    }

    /// Serves one REP context until its socket closes: receive, answer, repeat. `inFlight`
    /// counts requests received and not yet answered.
    /// Ends when its task is cancelled (the shutdown path) or the socket closes.
    static func serve(_ context: Context, _ inFlight: InFlight? = nil, _ handle: (borrowing Message) async -> [UInt8]) async {
        while !Task.isCancelled {
            let message: Message
            do {
                message = try await context.receive()
            } catch {
                if error == .closed || error == .canceled { return }
                continue
            }
            inFlight?.begin()
            let reply = await handle(message)
            do {
                try await context.send(reply)
                inFlight?.end()
            } catch {
                inFlight?.end()
                if error == .closed || error == .canceled { return }
            }
        }
    }

    static func handleIngest(_ bytes: [UInt8], _ coordinator: Coordinator, limit: Int, producers: ProducerCredentials? = nil) async -> [UInt8] {
        if bytes.count > limit {
            let reason = "request of \(bytes.count) bytes exceeds the limit of \(limit) bytes; split it"
            await coordinator.countRejectedRequest(reason)
            return IngestReply.refused(reason, code: .tooLarge).encode()
        }
        switch ProducerCredentials.decode(bytes, credentials: producers) {
        case .success(let request):
            return await coordinator.ingest(request)
        case .failure(let error):
            if error.code == .unauthorized { await coordinator.countUnauthorized(error.description, admin: false) }
            await coordinator.countRejectedRequest(error.description)
            return IngestReply.refused(error.description, code: error.code).encode()
        }
    }

    static func handleAdmin(_ bytes: [UInt8], _ coordinator: Coordinator, _ sockets: Sockets, _ operators: AdminCredentials? = nil) async -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let reply: Data
        do {
            let request = try JSONDecoder().decode(AdminRequest.self, from: Data(bytes))
            if let operators, let reason = operators.refusal(command: request.command, token: request.token) {
                await coordinator.countUnauthorized(reason, admin: true)
                throw AdminError(error: reason, code: .unauthorized)
            }
            reply = try await handleAdmin(request, coordinator, sockets, encoder)
        } catch let error as AdminError {
            reply = (try? encoder.encode(error)) ?? Data()
        } catch {
            reply = (try? encoder.encode(AdminError(error: "bad admin request: \(error)"))) ?? Data()
        }
        return [UInt8](reply)
    }

    static func handleAdmin(_ request: AdminRequest, _ coordinator: Coordinator, _ sockets: Sockets, _ encoder: JSONEncoder) async throws -> Data {
        switch request.command {
        case "status":
            var report = await coordinator.status()
            report.connections = sockets.statusConnections
            return try encoder.encode(report)
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
                throw AdminError(error: "command log: \(error)", code: .storageFailure)
            }
        default:
            throw AdminError(error: "unknown admin command '\(request.command)' (known: status, drain, commands)", code: .unknownCommand)
        }
    }
}

public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
