import Foundation
public import Logging
import NNG
import Observability
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
    /// For the HTTP listener: the status, readiness and control reports of this coordinator.
    public let probe: CoordinatorProbe

    /// Concurrent requests in flight per socket.
    static let ingestContexts = 8
    static let clusterContexts = 128
    static let adminContexts = 32

    public init(configuration: CoordinatorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        probe = CoordinatorProbe(dataDirectory: configuration.dataDirectory)
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
        let sockets = try Sockets(configuration, logger: logger)
        let coordinator = Coordinator(configuration: configuration, directory: directory, disk: disk,
                                      feed: FeedPublisher(socket: sockets.publish, format: configuration.feedFormat),
                                      recovered: recovered.stored, logger: logger)
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
        probe.attach(coordinator, sockets)
        let probe = probe

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
                        await Self.serve(context) { message in await Self.handleAdmin(message.bytes, coordinator, sockets, probe, operators) }
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
                probe.detach()
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
        let start = ContinuousClock.now
        defer { Timings.ingestRequest.record(since: start) }
        if bytes.count > limit {
            let reason = "request of \(bytes.count) bytes exceeds the limit of \(limit) bytes; split it"
            await coordinator.countRejectedRequest(reason)
            Refusals.requestRefused(.tooLarge)
            return IngestReply.refused(reason, code: .tooLarge).encode()
        }
        switch ProducerCredentials.decode(bytes, credentials: producers) {
        case .success(let request):
            Refusals.itemsRejected(request.rejected)
            return await coordinator.ingest(request)
        case .failure(let error):
            if error.code == .unauthorized { await coordinator.countUnauthorized(error.description, admin: false) }
            await coordinator.countRejectedRequest(error.description)
            Refusals.requestRefused(error.code)
            if error.code == .invalid { Refusals.badFrame(socket: "ingest") }
            return IngestReply.refused(error.description, code: error.code).encode()
        }
    }

    static func handleAdmin(_ bytes: [UInt8], _ coordinator: Coordinator, _ sockets: Sockets, _ probe: CoordinatorProbe, _ operators: AdminCredentials? = nil) async -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            let request: AdminRequest
            do {
                request = try JSONDecoder().decode(AdminRequest.self, from: Data(bytes))
            } catch {
                Refusals.badFrame(socket: "admin")
                throw error
            }
            if let operators, let reason = operators.refusal(command: request.command, token: request.token) {
                await coordinator.countUnauthorized(reason, admin: true)
                throw AdminError(error: reason, code: .unauthorized)
            }
            return try await handleAdmin(request, coordinator, sockets, probe, encoder)
        } catch let error as AdminError {
            return [UInt8]((try? encoder.encode(error)) ?? Data())
        } catch {
            return [UInt8]((try? encoder.encode(AdminError(error: "bad admin request: \(error)"))) ?? Data())
        }
    }

    static func handleAdmin(_ request: AdminRequest, _ coordinator: Coordinator, _ sockets: Sockets, _ probe: CoordinatorProbe, _ encoder: JSONEncoder) async throws -> [UInt8] {
        switch request.command {
        case "status":
            var report = await coordinator.status()
            report.connections = sockets.statusConnections
            return [UInt8](try encoder.encode(report))
        case "drain":
            guard let worker = request.worker else { throw AdminError(error: "drain needs a worker") }
            return [UInt8](try encoder.encode(AdminOK(ok: try await coordinator.drain(worker, force: request.force ?? false))))
        case "commands":
            let binary: Bool
            switch request.format ?? "json" {
            case "json": binary = false
            case "binary": binary = true
            case let other: throw AdminError(error: "format must be json or binary, not '\(other)'")
            }
            let maximum = binary ? CommandsReply.maximumBinaryLimit : CommandsReply.maximumJSONLimit
            let limit = request.limit ?? maximum
            guard (1...maximum).contains(limit) else { throw AdminError(error: "limit must be between 1 and \(maximum)") }
            let wait = request.waitMilliseconds ?? 0
            guard (0...30_000).contains(wait) else { throw AdminError(error: "wait_ms must be between 0 and 30000") }
            let page: CommandsReply
            do {
                page = try await coordinator.readCommands(from: request.from ?? 0, limit: limit, wait: .milliseconds(wait))
            } catch {
                throw AdminError(error: "command log: \(error)", code: .storageFailure)
            }
            return binary ? page.encodeBinary() : page.encodeJSON()
        case "observe":
            guard let control = request.control else { throw AdminError(error: "observe needs a control report") }
            guard control.samples.count <= ControlReport.maximumSamples else {
                throw AdminError(error: "a control report carries at most \(ControlReport.maximumSamples) samples", code: .tooLarge)
            }
            probe.record(control)
            return [UInt8](try encoder.encode(AdminOK(ok: "observed")))
        default:
            throw AdminError(error: "unknown admin command '\(request.command)' (known: status, drain, commands, observe)", code: .unknownCommand)
        }
    }
}

public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
