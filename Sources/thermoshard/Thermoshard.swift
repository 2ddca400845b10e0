import ArgumentParser
import Foundation
import Wire

/// `thermoshard`: one executable for the coordinator, workers, clients and the simulator.
@main
struct Thermoshard: AsyncParsableCommand {
    /// This build's version (`thermoshard --version`), with the wire format versions it speaks.
    static let version = "0.1.0 (cluster protocol \(ClusterProtocol.version), binary batch \(BinaryBatch.version), checkpoint format \(CheckpointCodec.formatVersion))"

    static let configuration = CommandConfiguration(
        commandName: "thermoshard",
        abstract: "A sharded cluster running a keyed, dynamically controlled thermostat for many sensors.",
        discussion: """
            Start a coordinator, start workers that connect to it, then send settings and readings \
            and watch heater commands. See README.md and docs/.

            Exit status: 0 success; 1 a runtime error (the coordinator cannot be reached, does not \
            answer, or refuses the request; printed as 'error: ...'); 2 from send when some lines \
            were rejected; 64 a usage error (an unknown subcommand or option, a missing or invalid \
            value; printed with the usage).
            """,
        version: version,
        subcommands: [
            CoordinatorCommand.self, WorkerCommand.self, StatusCommand.self, DrainCommand.self, SetCommand.self,
            SendCommand.self, WatchCommand.self, CommandsCommand.self, SimulateCommand.self, BenchCommand.self,
        ]
    )

    /// Parses the command line, completed from the environment and a config file
    /// (``ConfigurationSources``), and runs the subcommand.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let name = arguments.first, !name.hasPrefix("-"), name != "help",
           !configuration.subcommands.contains(where: { $0.configuration.commandName == name }) {
            FileHandle.standardError.write(Data(unknownSubcommand(name).utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        var origins: [ConfigurationSources.Origin] = []
        if let name = arguments.first, configuration.subcommands.contains(where: { $0.configuration.commandName == name }) {
            do {
                (arguments, origins) = try await ConfigurationSources.merge(
                    arguments: Array(arguments.dropFirst()), subcommand: name,
                    options: ConfigurationSources.declaredOptions(of: Thermoshard.self),
                    environment: ProcessInfo.processInfo.environment
                )
                EffectiveSettings.record(arguments: Array(CommandLine.arguments.dropFirst(2)), origins: origins)
                arguments.insert(name, at: 0)
            } catch {
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
        }
        // Errors while parsing and validating are usage errors (64, with the usage); errors
        // while the command runs are runtime errors (1, without it).
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            // A bad value from the environment or the file: say where it came from.
            let named = ConfigurationSources.origins(namedIn: fullMessage(for: error), among: origins)
            if !named.isEmpty {
                let sources = named.map { "--\($0.option) '\($0.value)' is from \($0.source)" }
                FileHandle.standardError.write(Data("Error: \(message(for: error))\n\(sources.joined(separator: "\n"))\n".utf8))
                Foundation.exit(exitCode(for: error).rawValue)
            }
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // ArgumentParser's own errors (help requested, an exit code) keep their meaning; a
            // ValidationError thrown while running reports a runtime failure, not bad usage.
            if error is ExitCode || !(error is ValidationError) && exitCode(for: error) != .failure {
                exit(withError: error)
            }
            FileHandle.standardError.write(Data("error: \(message(error))\n".utf8))
            Foundation.exit(ExitCode.failure.rawValue)
        }
    }

    /// The usage error for an unknown subcommand: the closest name, if one is close, and every
    /// subcommand with its abstract.
    static func unknownSubcommand(_ name: String) -> String {
        let names = configuration.subcommands.map { $0.configuration.commandName ?? "" }
        // A name it starts, else one at most two edits away.
        let close = names.map { ($0, $0.hasPrefix(name) ? 0 : editDistance($0, name)) }.filter { !name.isEmpty && $0.1 <= 2 }.min { $0.1 < $1.1 }
        var text = "Error: unknown subcommand '\(name)'" + (close.map { "; did you mean '\($0.0)'?" } ?? "") + "\n"
        text += "Usage: thermoshard <subcommand>\nSubcommands:\n"
        let width = (names.map { $0.count }.max() ?? 0) + 2
        for (name, subcommand) in zip(names, configuration.subcommands) {
            text += "  " + name + String(repeating: " ", count: width - name.count) + subcommand.configuration.abstract + "\n"
        }
        return text + "See 'thermoshard --help' for more information.\n"
    }

    /// Levenshtein distance, for suggestions.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// An error's text as a person reads it.
    static func message(_ error: any Error) -> String {
        switch error {
        case let error as ValidationError: error.message
        case let error as any CustomStringConvertible: error.description
        default: String(describing: error)
        }
    }
}
