import Observability
import Wire

/// Reading-to-command latency inside the cluster: from the group commit that put a reading on
/// disk (when it may go to its worker) to the poll that brings back the command it caused.
///
/// Per partition it keeps when each of the latest 64 group commits ended and up to which
/// offset, so a command's input offset finds its commit by a binary search; a command whose
/// commit has left the window (a replay long after) is not measured. Driven by the actor with
/// one call at each end.
struct CommandLatencyTracker {
    private static let window = 64
    /// Per partition: (end offset of a commit, when it was on disk), oldest first.
    private var commits: [UInt32: [(end: UInt64, time: UInt64)]] = [:]

    mutating func written(_ journalEnds: [UInt32: UInt64], now: UInt64) {
        for (partition, end) in journalEnds {
            var list = commits[partition, default: []]
            list.append((end, now))
            if list.count > Self.window { list.removeFirst(list.count - Self.window) }
            commits[partition] = list
        }
    }

    func results(_ results: [PartitionResult], now: UInt64) {
        for result in results where !result.commands.isEmpty {
            guard let list = commits[result.partition], let first = list.first else { continue }
            for command in result.commands {
                // Older than the window: its commit time is unknown.
                guard command.inputOffset >= first.end || list.count < Self.window else { continue }
                // The first commit whose end lies beyond the offset wrote it.
                var low = 0, high = list.count
                while low < high {
                    let mid = (low + high) / 2
                    if list[mid].end > command.inputOffset { high = mid } else { low = mid + 1 }
                }
                guard low < list.count, now >= list[low].time else { continue }
                Timings.readingToCommand.record(nanoseconds: Int64(now - list[low].time))
            }
        }
    }
}
