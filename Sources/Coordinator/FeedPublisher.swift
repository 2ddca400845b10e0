import NNG
import Storage
import Wire

/// Puts each group commit's commands on the PUB socket, in the `--feed` format.
///
/// Called on the disk thread as soon as a group commit is written, before the actor hears of it:
/// the feed waits neither for the actor's queue nor for a task of its own (two thread hand-offs
/// per commit on two shared cores), and the disk's one serial thread keeps the command log's
/// order. PUB never waits (it queues or drops per subscriber), so this never blocks the disk.
struct FeedPublisher: Sendable {
    let socket: Socket
    let format: FeedFormat

    func publish(_ commands: [CommandRecord]) {
        guard !commands.isEmpty else { return }
        switch format {
        case .text:
            // A message per command: not even encoded while no one listens.
            guard socket.connectionStats.open > 0 else { return }
            for command in commands { try? socket.trySend(CommandEvent(record: command).encodeFeedMessage()) }
        case .binary:
            for message in FeedBatch.encode(commands.map(CommandEvent.init(record:))) { try? socket.trySend(message) }
        }
    }
}

extension CommandEvent {
    init(record: CommandRecord) {
        self.init(sensor: record.sensor, action: record.action, partition: Int(record.partition), inputOffset: record.inputOffset,
                  commandOffset: record.offset)
    }
}
