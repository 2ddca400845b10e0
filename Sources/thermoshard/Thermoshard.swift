import ArgumentParser

/// `thermoshard`: one executable for the coordinator, workers, clients and the simulator.
@main
struct Thermoshard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thermoshard",
        abstract: "A sharded cluster running a keyed, dynamically controlled thermostat for many sensors.",
        discussion: """
            Start a coordinator, start workers that connect to it, then send settings and readings \
            and watch heater commands. See README.md and docs/.
            """,
        subcommands: [
            CoordinatorCommand.self, WorkerCommand.self, StatusCommand.self, SetCommand.self,
            SendCommand.self, WatchCommand.self, CommandsCommand.self, SimulateCommand.self,
        ]
    )
}
