import ArgumentParser
import Foundation

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
            CoordinatorCommand.self, WorkerCommand.self, StatusCommand.self, DrainCommand.self, SetCommand.self,
            SendCommand.self, WatchCommand.self, CommandsCommand.self, SimulateCommand.self, BenchCommand.self,
        ]
    )

    /// Parses the command line, completed from the environment and a config file
    /// (``ConfigurationSources``), and runs the subcommand.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let name = arguments.first,
           let subcommand = configuration.subcommands.first(where: { $0.configuration.commandName == name }) {
            let groups = (subcommand as? any HasOptionGroups.Type)?.optionGroups ?? []
            do {
                arguments = [name] + (try ConfigurationSources.merge(
                    arguments: Array(arguments.dropFirst()), subcommand: name,
                    options: ConfigurationSources.declaredOptions([subcommand] + groups),
                    environment: ProcessInfo.processInfo.environment,
                    readFile: { try String(contentsOfFile: $0, encoding: .utf8) }
                ))
            } catch {
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// A subcommand whose option groups take part in ``ConfigurationSources`` too.
protocol HasOptionGroups {
    static var optionGroups: [any ParsableArguments.Type] { get }
}
