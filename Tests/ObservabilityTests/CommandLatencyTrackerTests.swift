import Control
import Observability
import Testing
import Wire

/// Reading-to-command latency: a command is timed from the group commit that wrote its input.
@Suite struct CommandLatencyTrackerTests {
    private func result(_ partition: UInt32, _ offsets: [UInt64]) -> PartitionResult {
        PartitionResult(partition: partition, epoch: 1, nextOffset: (offsets.max() ?? 0) + 1,
                        commands: offsets.map { ProducedCommand(inputOffset: $0, sensor: 7, action: .on) })
    }

    private func latencies(_ tracker: CommandLatencyTracker, _ results: [PartitionResult], now: UInt64) -> [Int64] {
        var seen: [Int64] = []
        tracker.results(results, now: now) { seen.append($0) }
        return seen
    }

    @Test func eachCommandIsTimedFromTheCommitThatWroteItsInput() {
        var tracker = CommandLatencyTracker()
        tracker.written([0: 10, 3: 5], now: 1_000)   // partition 0: offsets 0..<10; 3: 0..<5
        tracker.written([0: 20], now: 4_000)          // partition 0: 10..<20
        #expect(latencies(tracker, [result(0, [2, 9, 10, 19])], now: 9_000) == [8_000, 8_000, 5_000, 5_000])
        #expect(latencies(tracker, [result(3, [4])], now: 9_000) == [8_000])
        // Beyond every commit known, or a partition never written: not measured.
        #expect(latencies(tracker, [result(0, [20]), result(5, [0])], now: 9_000).isEmpty)
    }

    @Test func commitsThatLeftTheWindowAreNotMeasured() {
        var tracker = CommandLatencyTracker()
        for i in 0..<100 { tracker.written([1: UInt64(i + 1) * 10], now: UInt64(i) * 100) }
        // The window holds the newest 64 commits, ends 370...1000: an offset below 370 may be
        // of the oldest held or of one before it, so it is not measured.
        #expect(latencies(tracker, [result(1, [5, 200])], now: 20_000).isEmpty)
        #expect(latencies(tracker, [result(1, [375, 995])], now: 20_000) == [20_000 - 3_700, 20_000 - 9_900])
    }

    @Test func aLargePollIsSampledEvenly() {
        var tracker = CommandLatencyTracker()
        tracker.written([0: 100_000, 1: 100_000], now: 0)
        let many = [result(0, Array(0..<3_000)), result(1, Array(0..<3_000))]
        let seen = latencies(tracker, many, now: 50)
        #expect(seen.count <= 2 * CommandLatencyTracker.samplesPerPoll)
        #expect(seen.count >= CommandLatencyTracker.samplesPerPoll)
        #expect(seen.allSatisfy { $0 == 50 })
        // A small poll: every command.
        #expect(latencies(tracker, [result(0, Array(0..<10))], now: 50).count == 10)
    }
}
