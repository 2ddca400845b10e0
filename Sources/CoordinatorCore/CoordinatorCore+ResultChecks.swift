import Cluster
import Control
import Wire

/// What a worker's results must be before they count, even from an authenticated worker, and
/// what happens to one that breaks the rules. A result's commands become heater commands, so
/// they are checked against what the coordinator knows: the partition log's items and what it
/// sent the owner (``PartitionLog/delivered``).
extension CoordinatorCore {
    /// The first rule the poll's results break, or nil. Results for partitions the worker does
    /// not hold at that epoch are left to ``record(_:from:)`` (a former owner's: fenced, counted).
    ///
    /// For each result of a partition P the worker holds:
    /// - at most one result for P in the poll;
    /// - its next offset is at most what was sent to the worker (offsets only move forward over
    ///   items delivered, so no reading can be skipped before it was sent);
    /// - each command: its input offset is below the result's next offset, above the previous
    ///   command's (at most one command per input offset), its sensor hashes to P, and where
    ///   the log still holds that input it is a reading of that sensor. (Inputs the log no
    ///   longer holds lie below a checkpoint, hence below the `published` mark: such commands
    ///   are suppressed in any case.)
    func resultViolation(in poll: Poll) -> String? {
        // One bit per partition (no hash per result): 512 bytes at P=4096.
        var seen = [UInt64](repeating: 0, count: (table.count + 63) / 64)
        for result in poll.results {
            let partition = Int(result.partition)
            guard table.accepts(partition: partition, worker: poll.worker, epoch: result.epoch) else { continue }
            let bit: UInt64 = 1 << (partition % 64)
            guard seen[partition / 64] & bit == 0 else { return "two results for partition \(partition) in one poll" }
            seen[partition / 64] |= bit
            let log = logs[partition]
            guard result.nextOffset <= log.delivered else {
                return "partition \(partition): next offset \(result.nextOffset) is beyond the items sent (up to \(log.delivered))"
            }
            var previous: UInt64?
            for command in result.commands {
                let offset = command.inputOffset
                if let previous, offset <= previous {
                    return "partition \(partition): a second command for input offset \(offset) (commands come one per input, in offset order)"
                }
                previous = offset
                guard offset < result.nextOffset else {
                    return "partition \(partition): a command for input offset \(offset), not below the result's next offset \(result.nextOffset)"
                }
                let home = partitioner.partition(of: command.sensor)
                guard home == partition else {
                    return "partition \(partition): sensor \(command.sensor) belongs to partition \(home)"
                }
                if offset >= log.base {
                    guard case .reading(let sensor, _) = log.items[Int(offset - log.base)], sensor == command.sensor else {
                        return "partition \(partition): input offset \(offset) is not a reading of sensor \(command.sensor)"
                    }
                }
            }
        }
        return nil
    }

    /// Fences a worker whose results broke a rule: counted (`results_refused`), logged, dropped
    /// from membership as a departure (its partitions go to others, from their checkpoints);
    /// the reply tells it to register again.
    mutating func fenceForBadResults(_ worker: WorkerID, incarnation: UInt64, _ violation: String, now: Nanoseconds) -> ClusterReply {
        counters.resultsRefused += 1
        log(.warning, rateKey: "bad-results", "refused the results of \(worker) and fenced it: \(violation)")
        if let departure = membership.remove(worker, incarnation: incarnation, cause: .badResults) {
            depart(departure, now: now)
            rebalance(now: now)
        }
        return .fenced(reason: "results refused: \(violation); this incarnation is fenced: register again")
    }

    /// A refusal of a poll or leave for a registered member (this incarnation) that did not
    /// come on the connection it registered on: a second connection cannot speak for it. The
    /// member is left alone (not even heard from); counted (`other_connection_requests`). A
    /// member registered without a connection (unit tests) accepts any.
    mutating func otherConnectionRefusal(_ worker: WorkerID, incarnation: UInt64, pipe: UInt32?) -> ClusterReply? {
        guard let pipe, let member = membership.members[worker], member.incarnation == incarnation,
              let bound = member.connection, bound != pipe
        else { return nil }
        counters.otherConnectionRequests += 1
        log(.warning, rateKey: "other-connection", "refused a request for \(worker) on connection \(pipe): it registered on connection \(bound)")
        return .fenced(reason: "worker '\(worker)' is registered on another connection; a new process registers with hello")
    }
}
