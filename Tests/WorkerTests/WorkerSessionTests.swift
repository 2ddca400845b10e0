import Control
import Testing
import Wire
import Worker

/// The worker's register / poll / leave / fenced decisions, without a coordinator.
@Suite("Worker session")
struct WorkerSessionTests {
    static let welcome = Welcome(incarnation: 7, partitionCount: 4, pollWaitMilliseconds: 100, checkpointIntervalMilliseconds: 1000)
    static let start = ContinuousClock.now

    static func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    static func registered() -> WorkerSession {
        var session = WorkerSession(id: "w1")
        #expect(session.next(now: at(0)) == .send(.hello(Hello(worker: "w1"))))
        session.received(.welcome(welcome), now: at(0))
        #expect(session.isRegistered)
        return session
    }

    static func isPoll(_ action: WorkerSession.Action) -> Poll? {
        if case .send(.poll(let poll)) = action { poll } else { nil }
    }

    @Test func aLeaveBeforeRegistrationStopsAtOnce() {
        var session = WorkerSession(id: "w1")
        #expect(session.next(now: Self.at(0)) == .send(.hello(Hello(worker: "w1"))))
        session.requestLeave()
        // The hello's answer never came (no coordinator): nothing to hand over, so stop.
        guard case .stop = session.next(now: Self.at(1)) else {
            Issue.record("expected stop")
            return
        }
    }

    @Test func registeredWorkersPollWithTheirIncarnation() throws {
        var session = Self.registered()
        let poll = try #require(Self.isPoll(session.next(now: Self.at(1))))
        #expect(poll.worker == "w1" && poll.incarnation == 7)
    }

    @Test func aNameInUseIsRetriedAfterABackoffNeverGivenUp() {
        var session = WorkerSession(id: "w1")
        var waits: [Duration] = []
        for round in 0..<6 {
            #expect(session.next(now: Self.at(round)) == .send(.hello(Hello(worker: "w1"))))
            session.received(ClusterReply.nameInUse("w1 is registered on another connection"), now: Self.at(round))
            guard case .wait(let wait) = session.next(now: Self.at(round)) else {
                Issue.record("expected a wait after 'name in use'")
                return
            }
            waits.append(wait)
        }
        // Capped exponential: 100 ms doubling to 2 s, each between half and all of its ceiling.
        let ceilings: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .seconds(2)]
        for (wait, ceiling) in zip(waits, ceilings) {
            #expect(wait >= ceiling / 2 && wait <= ceiling, "\(wait) outside \(ceiling / 2)...\(ceiling)")
        }
        #expect(session.takeNotes().contains { $0.level == .error && $0.message.contains("name in use") })
        // Once the name is free, the welcome registers it.
        #expect(session.next(now: Self.at(10)) == .send(.hello(Hello(worker: "w1"))))
        session.received(.welcome(Self.welcome), now: Self.at(10))
        #expect(session.isRegistered)
    }

    @Test func anyOtherRefusalIsFatal() {
        var session = WorkerSession(id: "bad id")
        _ = session.next(now: Self.at(0))
        session.received(.refused(reason: "worker id must be 1-128 printable ASCII characters without spaces"), now: Self.at(0))
        #expect(session.next(now: Self.at(1)) == .fail("the coordinator refused this worker: worker id must be 1-128 printable ASCII characters without spaces"))
    }

    @Test func aFencedWorkerDropsItsPartitionsAndRegistersAgain() throws {
        var session = Self.registered()
        _ = session.next(now: Self.at(1))
        session.received(.work(Work(assigns: [WorkerEngineTests.assign(2)])), now: Self.at(1))
        #expect(session.engine.ownedPartitions == [2])
        _ = session.next(now: Self.at(2))
        session.received(.fenced(reason: "declared dead"), now: Self.at(2))
        #expect(!session.isRegistered)
        #expect(session.engine.ownedPartitions.isEmpty)
        #expect(session.next(now: Self.at(3)) == .send(.hello(Hello(worker: "w1"))))
    }

    @Test func aLeaveHandsOverAndStopsOnGoodbye() throws {
        var session = Self.registered()
        session.requestLeave()
        #expect(session.next(now: Self.at(1)) == .send(.leave(worker: "w1", incarnation: 7)))
        session.received(.work(Work()), now: Self.at(1))
        // It keeps polling (results, final checkpoints, releases) until the goodbye.
        #expect(Self.isPoll(session.next(now: Self.at(2))) != nil)
        session.received(.work(Work(goodbye: true)), now: Self.at(2))
        guard case .stop = session.next(now: Self.at(3)) else {
            Issue.record("expected stop after goodbye")
            return
        }
    }

    @Test func fencedWhileLeavingStops() {
        var session = Self.registered()
        session.requestLeave()
        _ = session.next(now: Self.at(1))
        session.received(.fenced(reason: "unknown worker incarnation"), now: Self.at(1))
        guard case .stop = session.next(now: Self.at(2)) else {
            Issue.record("expected stop")
            return
        }
    }

    @Test func checkpointsGoOutOncePerInterval() throws {
        var session = Self.registered()
        _ = session.next(now: Self.at(1))
        session.received(.work(Work(assigns: [WorkerEngineTests.assign(1)], batches: [WorkerEngineTests.batch(1, sensors: 3, base: 10)])), now: Self.at(1))
        // Before the interval (1 s since registering): results, no checkpoint.
        let early = try #require(Self.isPoll(session.next(now: Self.at(500))))
        #expect(early.results.count == 1 && early.checkpoints.isEmpty)
        session.received(.work(Work()), now: Self.at(500))
        // Past it: the changed partition's checkpoint, then none until it changes again.
        let due = try #require(Self.isPoll(session.next(now: Self.at(1001))))
        #expect(due.checkpoints.map(\.partition) == [1])
        session.received(.work(Work()), now: Self.at(1001))
        let after = try #require(Self.isPoll(session.next(now: Self.at(2500))))
        #expect(after.checkpoints.isEmpty)
    }

    /// A session that owns partitions 0...3 with `sensors` sensors each, a checkpoint due.
    static func owningFour(sensors: Int, minimum: Int, cap: Int = 131_072) -> WorkerSession {
        var session = Self.registered()
        session.minimumCheckpointSensors = minimum
        session.checkpointSensorBudget = cap
        for partition in 0..<4 {
            _ = session.next(now: Self.at(1))
            session.received(.work(Work(assigns: [WorkerEngineTests.assign(partition)],
                                        batches: [WorkerEngineTests.batch(partition, sensors: sensors, base: 10)])), now: Self.at(1))
        }
        _ = session.next(now: Self.at(2))
        session.received(.work(Work()), now: Self.at(2))
        return session
    }

    /// The partitions checkpointed by each poll from `now` on, until a poll carries none.
    static func checkpointRound(_ session: inout WorkerSession, from now: Int) throws -> [[UInt32]] {
        var polls: [[UInt32]] = []
        for step in 0..<8 {
            let poll = try #require(Self.isPoll(session.next(now: Self.at(now + step))))
            session.received(.work(Work()), now: Self.at(now + step))
            if poll.checkpoints.isEmpty { break }
            polls.append(poll.checkpoints.map(\.partition))
        }
        return polls
    }

    @Test func aCheckpointRoundIsSpreadOverPolls() throws {
        // 4 x 5 sensors: a sixteenth is 1, so the minimum (5) decides: a partition a poll.
        var session = Self.owningFour(sensors: 5, minimum: 5)
        #expect(try Self.checkpointRound(&session, from: 1001) == [[0], [1], [2], [3]])
        // With a minimum of 10, two partitions a poll.
        session = Self.owningFour(sensors: 5, minimum: 10)
        #expect(try Self.checkpointRound(&session, from: 1001) == [[0, 1], [2, 3]])
        // The cap wins over the minimum.
        session = Self.owningFour(sensors: 5, minimum: 10, cap: 5)
        #expect(try Self.checkpointRound(&session, from: 1001) == [[0], [1], [2], [3]])
        // A partition bigger than the budget still goes, alone.
        session = Self.owningFour(sensors: 5, minimum: 1, cap: 1)
        #expect(try Self.checkpointRound(&session, from: 1001) == [[0], [1], [2], [3]])
    }

    @Test func aTakeoverIsRestoredBeforeTheCheckpointRoundGoesOn() throws {
        var session = Self.registered()
        _ = session.next(now: Self.at(1))
        session.received(.work(Work(assigns: [WorkerEngineTests.assign(1)], batches: [WorkerEngineTests.batch(1, sensors: 3, base: 10)])), now: Self.at(1))
        _ = session.next(now: Self.at(2))
        session.received(.work(Work(assigns: [WorkerEngineTests.assign(2)], batches: [WorkerEngineTests.batch(2, sensors: 2, base: 10)])), now: Self.at(2))
        // A checkpoint is due, but the last reply brought partitions (a takeover comes a few
        // MiB a reply, so more may follow): the poll that fetches them carries none.
        let fetching = try #require(Self.isPoll(session.next(now: Self.at(1001))))
        #expect(fetching.checkpoints.isEmpty && fetching.results.map(\.partition) == [2])
        // A reply without assignments: the restores are done, and the round goes on.
        session.received(.work(Work()), now: Self.at(1001))
        let due = try #require(Self.isPoll(session.next(now: Self.at(1002))))
        #expect(due.checkpoints.map(\.partition) == [1, 2])
    }

    @Test func anomaliesAreReportedOnce() {
        var session = Self.registered()
        _ = session.next(now: Self.at(1))
        session.received(.work(Work(batches: [WorkerEngineTests.batch(3, sensors: 1, base: 1)])), now: Self.at(1))
        #expect(session.takeNotes().filter { $0.message.contains("does not own") }.count == 1)
        #expect(session.takeNotes().isEmpty)
    }
}
