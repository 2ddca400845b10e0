import Control
import Resilience
public import Wire

/// The worker's side of the cluster protocol as a value: registration, polling, checkpoint
/// scheduling, leave and fencing. It decides; the shell (``WorkerService``) exchanges the
/// requests it asks for, sleeps when told, and hands every reply back. No sockets, no clock
/// read (time comes in as `now`), no randomness but its own seeded generator, so every path
/// is tested without a coordinator (Tests/WorkerTests/WorkerSessionTests.swift).
///
///     unregistered ──hello/welcome──▶ registered ──leave requested──▶ leaving ──goodbye──▶ done
///          ▲  └─name in use: back off, hello again    │ fenced: register again   │ fenced: done
///          └──────────────────────────────────────────┘
public struct WorkerSession: Sendable {
    /// What the shell does next.
    public enum Action: Sendable, Equatable {
        /// Exchange this request and give the reply to ``received(_:now:)``.
        case send(ClusterRequest)
        /// Sleep this long, then ask ``next(now:)`` again.
        case wait(Duration)
        /// The session is over (goodbye, or a leave with nothing left to hand over).
        case stop(String)
        /// The coordinator refused this worker for good (a bad id, a protocol it does not speak).
        case fail(String)
    }

    /// Something to log; the shell rate-limits repeats.
    public struct Note: Sendable, Equatable {
        public enum Level: Sendable { case info, warning, error }
        public let level: Level
        public let message: String
    }

    public enum Phase: Sendable, Equatable {
        case unregistered
        case registered(Welcome)
        case done(String)
        case failed(String)
    }

    public let id: String
    /// The cluster's join token (`--token-file`), sent in every hello.
    public var joinToken: String?
    public private(set) var phase: Phase = .unregistered
    public private(set) var engine = WorkerEngine()
    /// A checkpoint round is spread over the polls: each carries the checkpoints of at most a
    /// ``checkpointPollsPerRound``th of the worker's sensors, but at least
    /// ``minimumCheckpointSensors`` and at most ``checkpointSensorBudget`` (4.1 MiB); whole
    /// partitions, at least one. A poll's checkpoints delay its results by their encoding
    /// (about 44 ns a sensor) and the coordinator's check of them: in one poll, a worker's 50k
    /// sensors were a 3 ms stall every second, the p99 of latency at 100k readings/s (21 ms
    /// against 6.6 ms spread; docs/benchmarks.md).
    public var checkpointSensorBudget = 131_072
    public var minimumCheckpointSensors = 8_192
    public static let checkpointPollsPerRound = 16
    /// The sensors a poll of the current round may carry, set when the round begins.
    private var roundBudget = 0

    private var leaveRequested = false
    private var leaveSent = false
    private var pendingWait: Duration?
    private var lastCheckpoint: ContinuousClock.Instant?
    private var checkpointsOwed = false
    /// The last reply carried assignments: more may follow (the coordinator sends a takeover's
    /// states a few MiB a reply), and the polls that fetch them carry no checkpoints, so that
    /// restoring is not slowed by checkpointing (the round waits until the restores are done).
    private var restoring = false
    private var registerBackoff = Backoff(base: .milliseconds(100), cap: .seconds(2))
    private var random: SplitMix64
    private var notes: [Note] = []

    public init(id: String, seed: UInt64 = 0) {
        self.id = id
        // Seeded by the name, so that workers started together do not retry in step.
        random = SplitMix64(seed: id.utf8.reduce(seed) { Partitioner.mix64($0 ^ UInt64($1)) })
    }

    public var isRegistered: Bool { if case .registered = phase { true } else { false } }

    /// SIGTERM: hand the partitions over and stop (at once, if not registered).
    public mutating func requestLeave() { leaveRequested = true }

    /// Log lines decided since the last call.
    public mutating func takeNotes() -> [Note] {
        defer { notes.removeAll() }
        return notes + engine.takeAnomalies().map { Note(level: .warning, message: $0) }
    }

    /// What to do now.
    public mutating func next(now: ContinuousClock.Instant) -> Action {
        switch phase {
        case .done(let reason):
            return .stop(reason)
        case .failed(let reason):
            return .fail(reason)
        case .unregistered:
            if leaveRequested {
                phase = .done("not registered, nothing to hand over")
                return next(now: now)
            }
            if let wait = pendingWait {
                pendingWait = nil
                return .wait(wait)
            }
            return .send(.hello(Hello(worker: id, token: joinToken)))
        case .registered(let welcome):
            if leaveRequested, !leaveSent {
                leaveSent = true
                notes.append(Note(level: .info, message: "leaving: handing \(engine.ownedPartitions.count) partitions over"))
                return .send(.leave(worker: id, incarnation: welcome.incarnation))
            }
            let interval = Duration.milliseconds(Int(welcome.checkpointIntervalMilliseconds))
            if !restoring, checkpointsOwed || lastCheckpoint.map({ now - $0 >= interval }) ?? true {
                if !checkpointsOwed {
                    roundBudget = min(checkpointSensorBudget, max(minimumCheckpointSensors, engine.sensorCount / Self.checkpointPollsPerRound))
                }
                checkpointsOwed = engine.checkpointChanged(sensorBudget: roundBudget)
                if !checkpointsOwed { lastCheckpoint = now }
            }
            return .send(.poll(engine.takePoll(worker: id, incarnation: welcome.incarnation)))
        }
    }

    /// The reply to the request of the last ``next(now:)``.
    public mutating func received(_ reply: ClusterReply, now: ContinuousClock.Instant) {
        switch (phase, reply) {
        case (.unregistered, .welcome(let welcome)):
            phase = .registered(welcome)
            registerBackoff.reset()
            engine.reset()
            leaveSent = false
            checkpointsOwed = false
            restoring = false
            lastCheckpoint = now
            notes.append(Note(level: .info, message: "registered: incarnation \(welcome.incarnation), \(welcome.partitionCount) partitions"))
        case (.unregistered, .refused(let reason)) where reply.isNameInUse:
            // Another live process holds the name: wait for it to go, never take over.
            notes.append(Note(level: .error, message: "not registered: \(reason); asking again"))
            pendingWait = registerBackoff.next(using: &random)
        case (.unregistered, .refused(let reason)), (.registered, .refused(let reason)):
            phase = .failed("the coordinator refused this worker: \(reason)")
        case (.unregistered, .fenced(let reason)):
            notes.append(Note(level: .warning, message: "registration not accepted yet: \(reason)"))
            pendingWait = registerBackoff.next(using: &random)
        case (.unregistered, .work):
            pendingWait = registerBackoff.next(using: &random)
        case (.registered, .work(let work)):
            engine.apply(work)
            restoring = !work.assigns.isEmpty
            if work.goodbye { phase = .done("goodbye: every partition handed over") }
        case (.registered, .fenced(let reason)):
            if leaveSent {
                phase = .done("fenced while leaving: \(reason)")
            } else {
                notes.append(Note(level: .warning, message: "fenced off by the coordinator (\(reason)); dropping partitions and registering again"))
                engine.reset()
                phase = .unregistered
            }
        case (.registered, .welcome):
            engine.reset()
            phase = .unregistered
        case (.done, _), (.failed, _):
            break
        }
    }
}
