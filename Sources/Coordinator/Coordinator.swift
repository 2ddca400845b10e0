import Cluster
import CoordinatorCore
import DequeModule
import Logging
import Observability
import Resilience
import Storage
import Wire

/// The coordinator's shell around ``CoordinatorCore``, driven by ``CoordinatorService``.
///
/// Every protocol decision is the core's; this actor keeps only what a value cannot: the
/// continuations of parked polls, of requests waiting for their group commit and of command-log
/// long polls, the clock, the feed, and the ``DiskWriter``. After each event it carries out the
/// core's directives (answer a parked poll, log a line) and hands the pending batch to the
/// disk if it is idle (group commit: while the disk is busy the next batch grows).
actor Coordinator {
    let configuration: CoordinatorConfiguration
    let directory: DataDirectory
    private let disk: DiskWriter
    private let logger: Logger
    private let clock = MonotonicClock()
    private var limiter = RateLimitedLog(interval: .seconds(1))
    private var core: CoordinatorCore

    /// Polls the core parked, per worker.
    private var parked: [WorkerID: CheckedContinuation<ClusterReply, Never>] = [:]
    private var batchWaiters: [UInt64: [CheckedContinuation<String?, Never>]] = [:]
    /// Set when the disk failed: the coordinator stops serving.
    private(set) var failure: String?
    private var commandReaders: [CommandReader] = []
    private var commandLatency = CommandLatencyTracker()
    /// The newest commands on disk, so that followers of the log's tail are served from memory.
    private var recentCommands = Deque<CommandRecord>()
    static let recentCommandCapacity = 1 << 18
    /// The oldest offset the command log keeps, as of the last write.
    private var commandLogStart: UInt64 = 0
    /// Long polls on the command log held at once; beyond this a read answers at once, so that
    /// followers never take every admin context and quick calls (status) always get through.
    static let maximumWaitingReaders = 16

    private struct CommandReader {
        let from: UInt64
        let deadline: UInt64
        let continuation: CheckedContinuation<Void, Never>
    }

    /// Publishes each group commit's commands on the disk thread, as soon as they are written.
    private let feed: FeedPublisher

    init(configuration: CoordinatorConfiguration, directory: DataDirectory, disk: DiskWriter, feed: FeedPublisher, recovered: StoredState, logger: Logger) {
        self.configuration = configuration
        self.directory = directory
        self.disk = disk
        self.feed = feed
        self.logger = logger
        core = CoordinatorCore(settings: CoreSettings(
            partitionCount: directory.partitionCount,
            heartbeatTimeout: configuration.heartbeatTimeout.nanoseconds,
            pollWait: configuration.pollWait.nanoseconds,
            checkpointIntervalMilliseconds: configuration.checkpointInterval.milliseconds,
            maxBufferedItems: configuration.maxBufferedItems,
            maxBatchItems: configuration.maxBatchItems,
            // Incarnations start above the wall clock, so no worker of an earlier run looks current.
            firstIncarnation: WallClock.microsecondsSinceEpoch(),
            joinToken: configuration.joinToken.map { Array($0.utf8) }
        ), stored: recovered)
    }

    /// Carries out the core's directives, then starts the next group commit if the disk is idle.
    private func execute() {
        for action in core.takeActions() {
            switch action {
            case .answer(let worker, let reply):
                parked.removeValue(forKey: worker)?.resume(returning: reply)
            case .log(let notice):
                var metadata = Logger.Metadata()
                for (key, value) in notice.metadata { metadata[key] = "\(value)" }
                switch notice.level {
                case .debug: logger.debug("\(notice.message)", metadata: metadata)
                case .info: logger.info("\(notice.message)", metadata: metadata)
                case .warning:
                    if let key = notice.rateKey {
                        limiter.log(notice.message, key: key, metadata: metadata, to: logger)
                    } else {
                        logger.warning("\(notice.message)", metadata: metadata)
                    }
                }
            }
        }
        for pause in core.takePauses() { Timings.pause(nanoseconds: pause.nanoseconds, failover: pause.failover) }
        flush()
    }

    // MARK: - Ingest

    /// Admits a decoded request (``CoordinatorCore/admit(_:now:)``) and returns the encoded
    /// reply once its batch is on disk.
    func ingest(_ request: IngestRequest) async -> [UInt8] {
        guard failure == nil else {
            return IngestReply.refused("coordinator is shutting down; retry", code: .shuttingDown).encode()
        }
        let admission = core.admit(request, now: clock.now())
        execute()
        switch admission {
        case .refused(let reply):
            Refusals.requestRefused((try? IngestReply.decode(reply))?.code)
            return reply
        case .reply(let reply, let batch):
            if let batch, let error = await written(batch) { return IngestReply.refused(error, code: .storageFailure).encode() }
            return reply
        }
    }

    // MARK: - Group commit

    /// Waits until batch `number` is on disk; returns an error message if the disk failed.
    private func written(_ number: UInt64) async -> String? {
        if let failure { return "storage failure: \(failure)" }
        if core.isWritten(number) { return nil }
        return await withCheckedContinuation { batchWaiters[number, default: []].append($0) }
    }

    /// Hands the pending batch to the disk if it is idle (else it goes when the disk is done).
    private func flush() {
        guard failure == nil, let (number, batch) = core.startWrite() else { return }
        disk.write(batch) { [feed] result in
            if case .success = result { feed.publish(batch.commands) }
            Task { await self.batchWritten(number, batch, result) }
        }
    }

    private func batchWritten(_ number: UInt64, _ batch: CommitBatch, _ result: Result<WriteReport, StorageError>) {
        switch result {
        case .success(let report):
            commandLatency.written(batch.journalEnds, now: clock.now())
            commandLogStart = report.commandLogStart
            core.batchWritten(number, batch, report: report)
            for waiter in batchWaiters.removeValue(forKey: number) ?? [] { waiter.resume(returning: nil) }
            if !batch.commands.isEmpty {
                recentCommands.append(contentsOf: batch.commands)
                if recentCommands.count > Self.recentCommandCapacity {
                    recentCommands.removeFirst(recentCommands.count - Self.recentCommandCapacity)
                }
                for reader in commandReaders { reader.continuation.resume() }
                commandReaders.removeAll()
            }
            execute()
        case .failure(let error):
            fail(error.description)
        }
    }

    /// The disk failed: nothing more can be acknowledged. Answers everyone and stops; a restart
    /// recovers from what is on disk.
    private func fail(_ reason: String) {
        guard failure == nil else { return }
        failure = reason
        logger.critical("storage failure: \(reason); stopping (a restart recovers from what is on disk)")
        for waiter in batchWaiters.values.joined() { waiter.resume(returning: "storage failure: \(reason)") }
        batchWaiters.removeAll()
        shutdown()
    }

    func syncTick() {
        disk.syncIfDue({ error in Task { await self.fail(error.description) } },
                       onRemoved: { removed, segments in Task { await self.journalSegmentsRemoved(removed, left: segments) } })
    }

    private func journalSegmentsRemoved(_ removed: Int, left: Int) {
        core.journalSegmentsRemoved(removed, left: left)
    }

    /// An ingest or admin request refused for its credential.
    func countUnauthorized(_ reason: String, admin: Bool) {
        if admin { core.countAdminUnauthorized() } else { core.countIngestUnauthorized() }
        limiter.log("refused \(admin ? "admin" : "ingest") request: \(reason)", key: admin ? "admin-unauthorized" : "ingest-unauthorized", to: logger)
    }

    func countRejectedRequest(_ reason: String) {
        core.countRejectedRequest()
        limiter.log("refused ingest request: \(reason)", key: "bad-ingest", to: logger)
    }

    // MARK: - Cluster protocol

    func handle(_ request: ClusterRequest, pipe: UInt32?) async -> ClusterReply {
        if case .poll(let poll) = request { commandLatency.results(poll.results, now: clock.now()) }
        let outcome = core.handle(request, pipe: pipe, now: clock.now())
        execute()
        switch outcome {
        case .reply(let reply):
            return reply
        case .park:
            guard case .poll(let poll) = request else { return .work(Work()) }
            return await withCheckedContinuation { parked[poll.worker] = $0 }
        }
    }

    func countMalformed(_ error: FrameError) {
        core.countMalformedFrame()
        limiter.log("refused cluster frame: \(error)", key: "bad-frame", to: logger)
    }

    /// A cluster connection closed: its worker is gone (SIGKILL, crash, lost host).
    func pipeRemoved(_ pipe: UInt32) {
        core.pipeRemoved(pipe, now: clock.now())
        execute()
    }

    /// Expires silent workers and answers polls and command reads whose wait ran out.
    func tick() {
        let now = clock.now()
        core.tick(now: now)
        execute()
        if commandReaders.contains(where: { $0.deadline <= now }) {
            for reader in commandReaders where reader.deadline <= now { reader.continuation.resume() }
            commandReaders.removeAll { $0.deadline <= now }
        }
    }

    /// Stops taking work and answers every held poll. Idempotent.
    func shutdown() {
        guard core.running else { return }
        core.shutdown()
        execute()
        for reader in commandReaders { reader.continuation.resume() }
        commandReaders.removeAll()
    }

    var isRunning: Bool { core.running }

    /// After ``shutdown()``: waits (up to `timeout`) until every group commit decided so far is
    /// on disk and its requests have their replies.
    func finishInFlight(timeout: Duration) async {
        let deadline = clock.now() + timeout.nanoseconds
        while failure == nil, core.hasUnwritten || !batchWaiters.isEmpty, clock.now() < deadline {
            flush()
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    // MARK: - Admin

    func drain(_ worker: WorkerID, force: Bool) throws(AdminError) -> String {
        defer { execute() }
        return try core.drain(worker, force: force, now: clock.now())
    }

    /// Up to `limit` commands of the durable log from `offset`; waits up to `wait` for one if
    /// there are none yet.
    func readCommands(from offset: UInt64, limit: Int, wait: Duration) async throws(StorageError) -> CommandsReply {
        if offset >= core.writtenCommandEnd, wait > .zero, core.running, commandReaders.count < Self.maximumWaitingReaders {
            let deadline = clock.now() + wait.nanoseconds
            await withCheckedContinuation { commandReaders.append(CommandReader(from: offset, deadline: deadline, continuation: $0)) }
        }
        let end = core.writtenCommandEnd
        guard offset < end else {
            return CommandsReply(commands: [], next: offset, start: 0, end: end)
        }
        let count = min(limit, Int(clamping: end - offset))
        let records: [CommandRecord]
        let start: UInt64
        if let first = recentCommands.first?.offset, offset >= first {
            // The tail: from memory. (The log keeps its older segments, so `start` is the disk's.)
            let from = Int(offset - first)
            records = Array(recentCommands[from..<min(recentCommands.count, from + count)])
            start = commandLogStart
        } else {
            (records, start) = try await disk.readCommands(from: offset, limit: count)
        }
        let entries = records.map {
            CommandsReply.Entry(offset: $0.offset, sensor: $0.sensor, action: $0.action.rawValue, heater: $0.action.name, partition: $0.partition, inputOffset: $0.inputOffset)
        }
        return CommandsReply(commands: entries, next: records.last.map { $0.offset + 1 } ?? max(offset, start), start: start, end: end)
    }

    func status() -> StatusReport { core.status(now: clock.now()) }
}
