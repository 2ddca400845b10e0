import Cluster
import Control
import CoordinatorCore
import Storage
import Testing
import Wire

/// What a worker's results must be before they count (CoordinatorCore+ResultChecks.swift), and
/// who may speak for a worker: each forged result of issue 11 is refused, fences the worker and
/// puts nothing into the command log; requests for a worker on another connection are refused.
@Suite("Coordinator core: results are checked, workers are bound to their connection")
struct ResultChecksTests {
    /// Worker "a" on connection 7 holds both partitions; for partition `p` (sensor 0's) the log
    /// holds a setting of sensor `s`, then readings 10 and 30 of it, then a setting of sensor
    /// `s2` (of the same partition), all sent to "a" in the reply to its first poll.
    struct Fixture {
        var core: CoordinatorCore
        let incarnation: UInt64
        let partition: UInt32
        let epoch: UInt64
        let sensor: SensorID
        let neighbour: SensorID
        let stranger: SensorID

        init() throws {
            var core = CoordinatorCore(settings: CoordinatorCoreTests.settings, stored: StoredState(checkpoints: [nil, nil]))
            guard case .reply(.welcome(let welcome)) = core.handle(.hello(Hello(worker: "a")), pipe: 7, now: 1) else {
                throw CancellationError()
            }
            let partition = core.partitioner.partition(of: 0)
            let same = (1..<1000).filter { core.partitioner.partition(of: SensorID($0)) == partition }.map { SensorID($0) }
            let partitioner = core.partitioner
            let other = (1..<1000).first { partitioner.partition(of: SensorID($0)) != partition } ?? 0
            let items: [Item] = [CoordinatorCoreTests.setting(0), .reading(sensor: 0, temperature: 10), .reading(sensor: 0, temperature: 30), CoordinatorCoreTests.setting(same[0])]
            _ = core.admit(IngestRequest(items: items), now: 1)
            let write = core.startWrite()
            let (number, batch) = try #require(write)
            core.batchWritten(number, batch, report: WriteReport())
            // The first poll gets the items.
            guard case .reply(.work(let work)) = core.handle(.poll(Poll(worker: "a", incarnation: welcome.incarnation)), pipe: 7, now: 2) else {
                throw CancellationError()
            }
            #expect(work.batches.map(\.items.count) == [4])
            self.core = core
            incarnation = welcome.incarnation
            self.partition = UInt32(partition)
            epoch = core.table.entries[partition].epoch
            sensor = 0
            neighbour = same[0]
            stranger = SensorID(other)
        }

        /// The reply to a poll carrying `result`.
        mutating func report(_ result: PartitionResult, pipe: UInt32 = 7) -> PollOutcome {
            core.handle(.poll(Poll(worker: "a", incarnation: incarnation, results: [result])), pipe: pipe, now: 3)
        }

        func result(nextOffset: UInt64 = 4, _ commands: [ProducedCommand]) -> PartitionResult {
            PartitionResult(partition: partition, epoch: epoch, nextOffset: nextOffset, commands: commands)
        }

        /// The result was refused whole and the worker fenced: nothing pending for the command
        /// log, the mark unmoved, "a" no member, its partitions free, the refusal counted.
        mutating func expectFenced(_ outcome: PollOutcome, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
            guard case .reply(.fenced(let reason)) = outcome else {
                Issue.record("not fenced: \(outcome) (\(comment))", sourceLocation: sourceLocation)
                return
            }
            #expect(reason.hasPrefix("results refused"), sourceLocation: sourceLocation)
            #expect(core.startWrite().map { $0.1.commands.isEmpty } ?? true, "nothing reaches the command log (\(comment))", sourceLocation: sourceLocation)
            #expect(core.counters.commands == 0, sourceLocation: sourceLocation)
            #expect(core.logs[Int(partition)].published == 0, sourceLocation: sourceLocation)
            #expect(core.logs[Int(partition)].processed == 0, sourceLocation: sourceLocation)
            #expect(core.counters.resultsRefused == 1, sourceLocation: sourceLocation)
            #expect(!core.membership.isMember("a", incarnation: incarnation), sourceLocation: sourceLocation)
            #expect(core.table.partitions(heldBy: "a").isEmpty, sourceLocation: sourceLocation)
        }
    }

    @Test func anHonestResultIsTaken() throws {
        var f = try Fixture()
        let outcome = f.report(f.result([ProducedCommand(inputOffset: 1, sensor: f.sensor, action: .on), ProducedCommand(inputOffset: 2, sensor: f.sensor, action: .off)]))
        guard case .park = outcome else {
            Issue.record("an honest result is taken and the poll parked: \(outcome)")
            return
        }
        let write = f.core.startWrite()
        #expect(try #require(write).1.commands.map(\.inputOffset) == [1, 2])
        #expect(f.core.counters.resultsRefused == 0)
        #expect(f.core.membership.isMember("a", incarnation: f.incarnation))
    }

    @Test func bothOnAndOffForOneInputOffsetIsRefused() throws {
        var f = try Fixture()
        let outcome = f.report(f.result([ProducedCommand(inputOffset: 1, sensor: f.sensor, action: .on), ProducedCommand(inputOffset: 1, sensor: f.sensor, action: .off)]))
        f.expectFenced(outcome, "two commands for one offset")
    }

    @Test func aSensorOfAnotherPartitionIsRefused() throws {
        var f = try Fixture()
        let outcome = f.report(f.result([ProducedCommand(inputOffset: 1, sensor: f.stranger, action: .on)]))
        f.expectFenced(outcome, "sensor of the other partition")
    }

    @Test func aSensorThatWasNeverSentIsRefused() throws {
        var f = try Fixture()
        // 424242 as in the issue, and a sensor that does hash to the partition but was not sent
        // at that offset (so the hash check alone would not catch it).
        var g = try Fixture()
        f.expectFenced(f.report(f.result([ProducedCommand(inputOffset: 1, sensor: 424_242, action: .on)])), "sensor 424242")
        g.expectFenced(g.report(g.result([ProducedCommand(inputOffset: 1, sensor: g.neighbour, action: .on)])), "a sensor of the partition, not the one read at that offset")
    }

    @Test func aCommandForASettingsOffsetIsRefused() throws {
        var f = try Fixture()
        var g = try Fixture()
        // Offset 3 is the neighbour's setting: no command can come of it, neither for the
        // neighbour nor for sensor 2^64-1.
        f.expectFenced(f.report(f.result(nextOffset: 4, [ProducedCommand(inputOffset: 3, sensor: f.neighbour, action: .on)])), "a setting's offset")
        g.expectFenced(g.report(g.result(nextOffset: 4, [ProducedCommand(inputOffset: 0, sensor: .max, action: .off)])), "sensor 2^64-1 at a setting's offset")
    }

    @Test func anOffsetBeyondWhatWasSentIsRefused() throws {
        var f = try Fixture()
        // Four items were sent: claiming five skips a reading that was never sent.
        f.core.admit(IngestRequest(items: [.reading(sensor: 0, temperature: 30)]), now: 3).ignore()
        f.expectFenced(f.report(f.result(nextOffset: 5, [])), "next offset past the items sent")
    }

    @Test func aCommandAtOrBeyondTheResultsNextOffsetIsRefused() throws {
        var f = try Fixture()
        f.expectFenced(f.report(f.result(nextOffset: 2, [ProducedCommand(inputOffset: 2, sensor: f.sensor, action: .off)])), "a command for an input not processed")
    }

    @Test func twoResultsForOnePartitionAreRefused() throws {
        var f = try Fixture()
        let one = f.result(nextOffset: 2, [ProducedCommand(inputOffset: 1, sensor: f.sensor, action: .on)])
        let outcome = f.core.handle(.poll(Poll(worker: "a", incarnation: f.incarnation, results: [one, one])), pipe: 7, now: 3)
        f.expectFenced(outcome, "two results for one partition")
    }

    /// A fenced worker may register again (a new incarnation) and gets partitions again.
    @Test func aFencedWorkerMayRegisterAgain() throws {
        var f = try Fixture()
        f.expectFenced(f.report(f.result([ProducedCommand(inputOffset: 1, sensor: 424_242, action: .on)])), "forged")
        guard case .reply(.welcome) = f.core.handle(.hello(Hello(worker: "a")), pipe: 7, now: 4) else {
            Issue.record("a fenced worker is welcomed again")
            return
        }
        #expect(f.core.table.partitions(heldBy: "a").count == 2)
    }

    // MARK: Pipe binding

    @Test func aSecondConnectionCannotReportResultsForARegisteredWorker() throws {
        var f = try Fixture()
        let honest = f.result([ProducedCommand(inputOffset: 1, sensor: f.sensor, action: .on), ProducedCommand(inputOffset: 2, sensor: f.sensor, action: .off)])
        guard case .reply(.fenced(let reason)) = f.report(honest, pipe: 99) else {
            Issue.record("a poll for a on connection 99 is refused")
            return
        }
        #expect(reason.contains("another connection"))
        #expect(f.core.counters.otherConnectionRequests == 1)
        #expect(f.core.startWrite() == nil, "nothing of it is taken")
        #expect(f.core.logs[Int(f.partition)].published == 0)
        #expect(f.core.membership.isMember("a", incarnation: f.incarnation), "the registered worker is left alone")
        #expect(f.core.table.partitions(heldBy: "a").count == 2)
        // Nor can it make the worker leave.
        guard case .reply(.fenced) = f.core.handle(.leave(worker: "a", incarnation: f.incarnation), pipe: 99, now: 4) else {
            Issue.record("a leave for a on connection 99 is refused")
            return
        }
        #expect(f.core.membership.members["a"]?.leaving == false)
        #expect(f.core.counters.otherConnectionRequests == 2)
        // The worker itself, on its own connection, goes on.
        guard case .park = f.report(honest) else {
            Issue.record("the worker's own poll is taken")
            return
        }
        #expect(f.core.logs[Int(f.partition)].published == 4)
    }

    /// A closed connection that is not the worker's does not make it lost either.
    @Test func anotherConnectionClosingLeavesTheWorkerAlone() throws {
        var f = try Fixture()
        _ = f.report(f.result([]), pipe: 99)
        f.core.pipeRemoved(99, now: 4)
        #expect(f.core.membership.isMember("a", incarnation: f.incarnation))
    }

    // MARK: Join token

    static func tokenSettings(_ token: String) -> CoreSettings {
        var settings = CoordinatorCoreTests.settings
        settings.joinToken = Array(token.utf8)
        return settings
    }

    @Test func aHelloWithoutTheRightJoinTokenIsRefusedAndCounted() throws {
        var core = CoordinatorCore(settings: Self.tokenSettings("the-right-token-0123456789"), stored: StoredState(checkpoints: [nil, nil]))
        for (hello, why) in [(Hello(worker: "rogue"), "requires a join token"), (Hello(worker: "rogue", token: "the-wrong-token-0123456789"), "wrong join token"),
                             (Hello(worker: "rogue", token: "the-right-token-012345678"), "wrong join token")] {
            guard case .reply(.refused(let reason)) = core.handle(.hello(hello), pipe: 5, now: 1) else {
                Issue.record("\(hello) is refused")
                continue
            }
            #expect(reason.contains(why))
            #expect(!ClusterReply.refused(reason: reason).isNameInUse, "final, not 'name in use'")
        }
        #expect(core.counters.hellosUnauthorized == 3)
        #expect(core.membership.members.isEmpty)
        #expect(core.table.entries.allSatisfy { $0.holder == nil }, "no partition for the refused")
        guard case .reply(.welcome) = core.handle(.hello(Hello(worker: "w1", token: "the-right-token-0123456789")), pipe: 6, now: 2) else {
            Issue.record("the right token is welcomed")
            return
        }
        #expect(core.table.partitions(heldBy: "w1").count == 2)
    }

    @Test func constantTimeEqualityIsEquality() {
        #expect(Credentials.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!Credentials.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!Credentials.constantTimeEqual(Array("abc".utf8), Array("abcabc".utf8)))
        #expect(!Credentials.constantTimeEqual(Array("abc".utf8), []))
        #expect(Credentials.constantTimeEqual([UInt8](), []))
    }
}

extension Admission {
    func ignore() {}
}
