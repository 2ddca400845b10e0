public import Wire

/// Reading-to-command latency inside the cluster: from the group commit that put a reading on
/// disk (when it may go to its worker) to the poll that brings back the command it caused.
///
/// Per partition it keeps when each of the latest 64 group commits ended and up to which
/// offset, in a ring of flat arrays (no allocation per commit, whatever the partition count),
/// so a command's input offset finds its commit by a binary search; a command whose commit has
/// left the window (a replay long after) is not measured. A poll's commands are sampled evenly,
/// at most ``samplesPerPoll`` of them (a histogram update takes a lock: one per command would
/// cost more than the rest of the poll at a million commands a second), so at low rates every
/// command is measured. Driven by the actor with one call at each end.
public struct CommandLatencyTracker: Sendable {
    private static let window = 64
    public static let samplesPerPoll = 256
    /// Partition p's ring is slots p * window ..< (p + 1) * window of `ends` and `times`.
    private var ends: [UInt64] = []
    private var times: [UInt64] = []
    /// Per partition: the slot the next commit goes to, and how many slots hold one.
    private var next: [Int] = []
    private var filled: [Int] = []

    public init() {}

    /// A group commit ended at `now`, having put each partition's items up to its end on disk.
    public mutating func written(_ journalEnds: [UInt32: UInt64], now: UInt64) {
        for (partition, end) in journalEnds {
            let p = Int(partition)
            if p >= next.count { grow(to: p + 1) }
            let slot = p * Self.window + next[p]
            ends[slot] = end
            times[slot] = now
            next[p] = (next[p] + 1) % Self.window
            filled[p] = min(filled[p] + 1, Self.window)
        }
    }

    private mutating func grow(to partitions: Int) {
        let extra = partitions - next.count
        ends.append(contentsOf: repeatElement(0, count: extra * Self.window))
        times.append(contentsOf: repeatElement(0, count: extra * Self.window))
        next.append(contentsOf: repeatElement(0, count: extra))
        filled.append(contentsOf: repeatElement(0, count: extra))
    }

    /// A poll brought `results` at `now`: records the latency of (a sample of) their commands
    /// into `record` (nanoseconds; by default the `reading_to_command` histogram).
    public func results(_ results: [PartitionResult], now: UInt64,
                        record: (Int64) -> Void = { Timings.readingToCommand.record(nanoseconds: $0) }) {
        let total = results.reduce(0) { $0 + $1.commands.count }
        let step = max(1, total / Self.samplesPerPoll)
        var index = 0
        for result in results where !result.commands.isEmpty {
            defer { index += result.commands.count }
            let p = Int(result.partition)
            guard p < filled.count, filled[p] > 0 else { continue }
            let count = filled[p]
            let base = p * Self.window
            let oldest = (next[p] - count + Self.window) % Self.window
            /// The commit `i` places after the oldest one held.
            func slot(_ i: Int) -> Int { base + (oldest + i) % Self.window }
            // Commands come in input-offset order, so their commits do too: each search
            // starts where the last one ended.
            var low = 0
            for (i, command) in result.commands.enumerated() where (index + i) % step == 0 {
                // Older than the window: its commit time is unknown.
                guard command.inputOffset >= ends[slot(0)] || count < Self.window else { continue }
                // The first commit whose end lies beyond the offset wrote it.
                var high = count
                while low < high {
                    let mid = (low + high) / 2
                    if ends[slot(mid)] > command.inputOffset { high = mid } else { low = mid + 1 }
                }
                guard low < count else { break }
                let written = times[slot(low)]
                guard now >= written else { continue }
                record(Int64(now - written))
            }
        }
    }
}
