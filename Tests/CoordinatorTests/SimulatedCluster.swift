import Cluster
import Control
import CoordinatorCore
import Storage
import Wire
import Worker

/// A coordinator core, its disk and worker processes, stepped by hand with no sockets: the shell
/// (`Coordinator`) reduced to delivering replies, writing batches and passing the time.
///
/// Worker processes run the real ``WorkerEngine`` and speak REQ/REP as the real worker does:
/// one request outstanding, its reply applied before the next request. A process can be
/// stopped (SIGSTOP: silent, its reply waits in the socket), continued, killed (its connection
/// closes), replaced by a new process of the same name while the old one is stopped, drained
/// or told to leave; the coordinator can crash and restart from its disk.
struct SimulatedCluster {
    struct Process {
        let id: Int
        let name: WorkerID
        let pipe: UInt32
        var engine = WorkerEngine()
        var incarnation: UInt64?
        /// A request is outstanding; `inbox` holds its reply once it came.
        var awaiting = false
        var inbox: ClusterReply?
        var stopped = false
        var exited = false
        var leaveRequested = false
        var leaveSent = false
    }

    struct Request {
        let producer: String
        let seq: UInt64
        let items: [Item]
    }

    let settings: CoreSettings
    private(set) var core: CoordinatorCore
    private(set) var disk: SimulatedDisk
    private(set) var processes: [Process] = []
    private(set) var now: Nanoseconds = 1_000_000_000
    /// The batch the disk is writing.
    private var inFlight: (number: UInt64, batch: CommitBatch)?
    /// Requests waiting for their batch, and those acknowledged (on disk).
    private var waiting: [(batch: UInt64, request: Request)] = []
    private(set) var acknowledged: [Request] = []
    private(set) var sent: [Request] = []
    private var nextPipe: UInt32 = 1
    private(set) var restarts = 0
    /// The process whose poll the core parked, per worker name.
    private var parkedBy: [WorkerID: Int] = [:]

    init(partitionCount: Int) {
        settings = CoreSettings(
            partitionCount: partitionCount, heartbeatTimeout: 800_000_000, pollWait: 100_000_000,
            checkpointIntervalMilliseconds: 1000, maxBufferedItems: 1_000_000, maxBatchItems: 7,
            firstIncarnation: 1
        )
        disk = SimulatedDisk(partitionCount: partitionCount)
        core = CoordinatorCore(settings: settings, stored: disk.recover())
    }

    // MARK: - The shell's part

    /// Carries out the core's directives and starts a write if the disk is idle.
    private mutating func execute() {
        for action in core.takeActions() {
            guard case .answer(let worker, let reply) = action else { continue }
            if let id = parkedBy.removeValue(forKey: worker), processes[id].awaiting {
                processes[id].inbox = reply
            }
        }
        if inFlight == nil, let next = core.startWrite() { inFlight = next }
    }

    /// The disk finishes the batch it is writing.
    mutating func completeWrite() {
        guard let (number, batch) = inFlight else { return }
        inFlight = nil
        disk.write(batch)
        core.batchWritten(number, batch, report: WriteReport())
        acknowledged += waiting.filter { $0.batch <= number }.map(\.request)
        waiting.removeAll { $0.batch <= number }
        execute()
    }

    mutating func advance(by nanoseconds: Nanoseconds) {
        now += nanoseconds
        core.tick(now: now)
        execute()
    }

    /// An ingest request, new or a producer's retry. Returns whether it was admitted.
    @discardableResult
    mutating func ingest(_ request: Request) -> Bool {
        sent.append(request)
        switch core.admit(IngestRequest(producer: request.producer, seq: request.seq, items: request.items), now: now) {
        case .refused:
            execute()
            return false
        case .reply(_, let batch):
            if let batch, !core.isWritten(batch) {
                waiting.append((batch, request))
            }
            execute()
            return true
        }
    }

    /// The coordinator crashes (what is not on disk is gone, connections close) and starts
    /// again from its disk, with incarnations above every earlier one.
    mutating func restartCoordinator() {
        restarts += 1
        inFlight = nil
        waiting.removeAll()
        parkedBy.removeAll()
        var settings = settings
        settings.firstIncarnation = UInt64(restarts) << 32
        core = CoordinatorCore(settings: settings, stored: disk.recover())
        for id in processes.indices {
            // The outstanding request is lost with its connection; the process asks again.
            processes[id].awaiting = false
            processes[id].inbox = nil
        }
    }

    mutating func drain(_ worker: WorkerID, force: Bool) {
        _ = try? core.drain(worker, force: force, now: now)
        execute()
    }

    // MARK: - Worker processes

    @discardableResult
    mutating func startProcess(named name: WorkerID) -> Int {
        processes.append(Process(id: processes.count, name: name, pipe: nextPipe))
        nextPipe += 1
        return processes.count - 1
    }

    /// SIGKILL: the process is gone and its connection closes.
    mutating func kill(_ id: Int) {
        processes[id].exited = true
        core.pipeRemoved(processes[id].pipe, now: now)
        execute()
    }

    mutating func setStopped(_ id: Int, _ stopped: Bool) { processes[id].stopped = stopped }
    mutating func requestLeave(_ id: Int) { processes[id].leaveRequested = true }

    /// The process takes its next step: applies the reply it got, or sends its next request.
    mutating func act(_ id: Int, checkpoint: Bool) {
        var process = processes[id]
        guard !process.exited, !process.stopped else { return }
        defer { processes[id] = process }
        if process.awaiting {
            guard let reply = process.inbox else { return }
            process.awaiting = false
            process.inbox = nil
            switch reply {
            case .welcome(let welcome):
                process.incarnation = welcome.incarnation
                process.engine.reset()
                process.leaveSent = false
            case .work(let work):
                process.engine.apply(work)
                if work.goodbye {
                    process.exited = true
                    core.pipeRemoved(process.pipe, now: now)
                    execute()
                }
            case .fenced:
                process.engine.reset()
                process.incarnation = nil
            case .refused:
                process.incarnation = nil
            }
            return
        }
        let request: ClusterRequest
        if let incarnation = process.incarnation {
            if process.leaveRequested, !process.leaveSent {
                process.leaveSent = true
                request = .leave(worker: process.name, incarnation: incarnation)
            } else {
                if checkpoint { process.engine.checkpointChanged() }
                request = .poll(process.engine.takePoll(worker: process.name, incarnation: incarnation))
            }
        } else {
            if process.leaveRequested {
                process.exited = true
                return
            }
            request = .hello(Hello(worker: process.name))
        }
        process.awaiting = true
        let outcome = core.handle(request, pipe: process.pipe, now: now)
        // As the actor does: the directives first (they may answer an older parked poll of
        // this name), then this poll is parked.
        processes[id] = process
        execute()
        process = processes[id]
        switch outcome {
        case .reply(let reply): process.inbox = reply
        case .park: parkedBy[process.name] = id
        }
    }

    // MARK: - What the checks look at

    var live: [Int] { processes.indices.filter { !processes[$0].exited } }

    /// Whether every accepted item is processed, reported and on disk.
    var quiescent: Bool {
        inFlight == nil && !core.hasUnwritten && core.logs.allSatisfy { $0.published == $0.head && $0.durable == $0.head }
    }

    /// Per partition, the processes that hold it and are current members: at most one, and
    /// that one is who the table says, at the epoch it says.
    func ownershipViolations() -> [String] {
        var problems: [String] = []
        var holders: [Int: [(name: WorkerID, epoch: UInt64)]] = [:]
        for process in processes where !process.exited {
            guard let incarnation = process.incarnation, core.membership.isMember(process.name, incarnation: incarnation) else { continue }
            for partition in process.engine.ownedPartitions {
                holders[partition, default: []].append((process.name, process.engine.epoch(of: partition)!))
            }
        }
        for (partition, list) in holders.sorted(by: { $0.key < $1.key }) {
            if list.count > 1 {
                problems.append("partition \(partition) is held by \(list.map { "\($0.name)@\($0.epoch)" })")
            }
            for holder in list where !core.table.accepts(partition: partition, worker: holder.name, epoch: holder.epoch) {
                problems.append("partition \(partition) is held by \(holder.name)@\(holder.epoch), the table says \(core.table.entries[partition])")
            }
        }
        return problems
    }
}
