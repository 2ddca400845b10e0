import ArgumentParser
import Foundation
import Synchronization

/// Every option of the running subcommand with its effective value and where it came from
/// (`flag`, `environment THERMOSHARD_X`, `file PATH key K`, `default`), for the start-up log
/// line of the coordinator and the worker.
enum EffectiveSettings {
    struct Setting: Equatable {
        let option: String
        let value: String
        let source: String
    }

    private struct Recorded: Sendable {
        var arguments: [String] = []
        var origins: [ConfigurationSources.Origin] = []
    }

    private static let recorded = Mutex(Recorded())

    /// Called by `main` with the command line as given (without the program and subcommand
    /// names) and what the environment and the file added.
    static func record(arguments: [String], origins: [ConfigurationSources.Origin]) {
        recorded.withLock { $0 = Recorded(arguments: arguments, origins: origins) }
    }

    /// The settings of `subcommand`, in declaration order.
    static func settings(of subcommand: String) -> [Setting] {
        let (arguments, origins) = recorded.withLock { ($0.arguments, $0.origins) }
        return settings(of: subcommand, arguments: arguments, origins: origins, defaults: (try? defaults()) ?? [:])
    }

    static func settings(of subcommand: String, arguments: [String], origins: [ConfigurationSources.Origin],
                         defaults: [String: [(String, String?)]]) -> [Setting] {
        var given: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { break }
            if argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                if let equals = body.firstIndex(of: "=") {
                    given[String(body[..<equals])] = String(body[body.index(after: equals)...])
                } else if index + 1 < arguments.count, !arguments[index + 1].hasPrefix("--") {
                    given[String(body)] = arguments[index + 1]
                    index += 1
                } else {
                    given[String(body)] = "true"
                }
            }
            index += 1
        }
        let fromSources = Dictionary(origins.map { ($0.option, $0) }, uniquingKeysWith: { a, _ in a })
        return (defaults[subcommand] ?? []).map { option, defaultValue in
            if let value = given[option] { return Setting(option: option, value: value, source: "flag") }
            if let origin = fromSources[option] { return Setting(option: option, value: origin.value, source: origin.source) }
            return Setting(option: option, value: defaultValue ?? "none", source: "default")
        }
    }

    /// Each subcommand's options and their defaults, from ArgumentParser's own description.
    static func defaults() throws -> [String: [(String, String?)]] {
        let info = try JSONDecoder().decode(ToolInfo.self, from: Data(Thermoshard._dumpHelp().utf8))
        var out: [String: [(String, String?)]] = [:]
        for command in info.command.subcommands ?? [] {
            out[command.commandName] = (command.arguments ?? []).compactMap { argument in
                guard argument.kind == "option" || argument.kind == "flag",
                      let long = argument.names?.first(where: { $0.kind == "long" })?.name,
                      long != "help", long != "version"
                else { return nil }
                return (long, argument.defaultValue ?? (argument.kind == "flag" ? "false" : nil))
            }
        }
        return out
    }

    private struct ToolInfo: Decodable {
        let command: CommandInfo
    }

    private struct CommandInfo: Decodable {
        let commandName: String
        let subcommands: [CommandInfo]?
        let arguments: [ArgumentInfo]?
    }

    private struct ArgumentInfo: Decodable {
        let kind: String
        let names: [NameInfo]?
        let defaultValue: String?
    }

    private struct NameInfo: Decodable {
        let kind: String
        let name: String
    }
}
