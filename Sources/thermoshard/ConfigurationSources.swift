import ArgumentParser
import Configuration
import Foundation

/// Options from the environment and a config file, below the command line:
/// flag, then `THERMOSHARD_<NAME>`, then the config file, then the default.
///
/// Every option of a subcommand can be set as `THERMOSHARD_` and its name in upper snake case
/// (`--heartbeat-timeout` is `THERMOSHARD_HEARTBEAT_TIMEOUT`; a flag takes `true`/`false`,
/// `yes`/`no` or `1`/`0`), or in the JSON file named by `--config FILE` or `THERMOSHARD_CONFIG`:
///
///     {
///       "log-level": "debug",
///       "coordinator": { "data": "/var/lib/thermoshard", "heartbeat-timeout": "800ms", "partitions": 64 },
///       "worker": { "coordinator": "tcp://10.0.0.1:7602" }
///     }
///
/// A top-level key that holds a value applies to every subcommand that has the option; a
/// top-level key that holds an object is a subcommand's section, and wins over the top level.
/// The environment and the file are read by swift-configuration's `EnvironmentVariablesProvider`
/// and `FileProvider<JSONSnapshot>`. Their values are turned into command-line arguments,
/// appended after the real ones for the options the command line leaves out, so the parser
/// validates them like any flag; ``Origin`` remembers where each came from, so that an error
/// about one names the variable, or the file and the key.
enum ConfigurationSources {
    static let environmentPrefix = "THERMOSHARD_"
    static let precedence = """
        Every option may also come from the environment as THERMOSHARD_<OPTION> (e.g. \
        THERMOSHARD_HEARTBEAT_TIMEOUT=2s; flags take true/false) or from a JSON config file named \
        by --config FILE or THERMOSHARD_CONFIG ({"option": value, "<subcommand>": {"option": \
        value}}; see docs/deploy.md). Precedence: flag, then environment, then file, then default.
        """

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// An option a command declares: its long name and whether it is a flag.
    struct Declared: Equatable, Sendable {
        let name: String
        let isFlag: Bool
    }

    /// An argument added from the environment or the file, for error messages.
    struct Origin: Equatable, Sendable {
        /// The option's long name, without `--`.
        let option: String
        let value: String
        /// `environment variable THERMOSHARD_X` or `config file PATH, key section.option`.
        let source: String
    }

    // MARK: Declared options

    /// Each subcommand's long options and flags, by subcommand name, from ArgumentParser's own
    /// description of the command tree (what `--experimental-dump-help` prints), option groups
    /// included.
    static func declaredOptions(of root: any ParsableCommand.Type) throws -> [String: [Declared]] {
        let info = try JSONDecoder().decode(ToolInfo.self, from: Data(root._dumpHelp().utf8))
        var out: [String: [Declared]] = [:]
        for command in info.command.subcommands ?? [] {
            out[command.commandName] = (command.arguments ?? []).compactMap { argument in
                guard argument.kind == "option" || argument.kind == "flag",
                      let long = argument.names?.first(where: { $0.kind == "long" })?.name,
                      long != "help", long != "version"
                else { return nil }
                return Declared(name: long, isFlag: argument.kind == "flag")
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
    }

    private struct NameInfo: Decodable {
        let kind: String
        let name: String
    }

    static func environmentName(_ option: String) -> String {
        environmentPrefix + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    // MARK: Merging

    /// `arguments` (without the program name and the subcommand) with `--config` taken out and
    /// the environment's and file's values added for options the command line does not give.
    /// `options` holds every subcommand's options (the file is checked against all of them).
    static func merge(
        arguments: [String], subcommand: String, options: [String: [Declared]], environment: [String: String]
    ) async throws -> (arguments: [String], origins: [Origin]) {
        var arguments = arguments
        var configPath = environment[environmentPrefix + "CONFIG"]
        if let index = arguments.firstIndex(where: { $0 == "--config" || $0.hasPrefix("--config=") }) {
            if arguments[index] == "--config" {
                guard index + 1 < arguments.count else { throw Failure(description: "--config needs a file name") }
                configPath = arguments[index + 1]
                arguments.removeSubrange(index...(index + 1))
            } else {
                configPath = String(arguments[index].dropFirst("--config=".count))
                arguments.remove(at: index)
            }
        }
        let given = Set(arguments.compactMap { argument -> String? in
            guard argument.hasPrefix("--") else { return nil }
            return String(argument.dropFirst(2).split(separator: "=", maxSplits: 1).first ?? "")
        })

        let environmentProvider = EnvironmentVariablesProvider(environmentVariables: environment)
        var file: FileProvider<JSONSnapshot>?
        if let configPath, !configPath.isEmpty {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: configPath))
            } catch {
                throw Failure(description: "cannot read config file \(configPath): \(error.localizedDescription)")
            }
            try check(data, path: configPath, options: options)
            do {
                file = try await FileProvider<JSONSnapshot>(filePath: .init(configPath))
            } catch {
                throw Failure(description: "cannot read config file \(configPath): \(error)")
            }
        }

        var extra: [String] = []
        var origins: [Origin] = []
        for option in options[subcommand] ?? [] where !given.contains(option.name) {
            guard let (value, source) = try lookUp(option, subcommand: subcommand, environment: environmentProvider,
                                                   environmentValues: environment, file: file, path: configPath)
            else { continue }
            if option.isFlag {
                if value == "true" { extra.append("--\(option.name)") }
            } else {
                extra.append("--\(option.name)=\(value)")
            }
            origins.append(Origin(option: option.name, value: value, source: source))
        }
        // After a `--` terminator nothing would parse as an option: insert before it.
        if let terminator = arguments.firstIndex(of: "--") {
            arguments.insert(contentsOf: extra, at: terminator)
        } else {
            arguments.append(contentsOf: extra)
        }
        return (arguments, origins)
    }

    /// The value for `option` as a command-line value (`true`/`false` for a flag) and where it
    /// came from: the environment, else the subcommand's section of the file, else its top level.
    private static func lookUp(
        _ option: Declared, subcommand: String, environment: EnvironmentVariablesProvider,
        environmentValues: [String: String], file: FileProvider<JSONSnapshot>?, path: String?
    ) throws -> (String, String)? {
        let type: ConfigType = option.isFlag ? .bool : .string
        let variable = environmentName(option.name)
        do {
            if let value = try environment.value(forKey: AbsoluteConfigKey(["thermoshard", option.name]), type: type).value {
                return (render(value.content), "environment variable \(variable)")
            }
        } catch {
            throw Failure(description: "environment variable \(variable) sets the flag --\(option.name): give it true or false (or yes/no, 1/0), not '\(environmentValues[variable] ?? "")'")
        }
        guard let file, let path else { return nil }
        for key in [[subcommand, option.name], [option.name]] {
            // The file's types were checked (``check(_:path:options:)``): a flag holds a boolean,
            // an option a string or a number.
            for type in option.isFlag ? [ConfigType.bool] : [.string, .int, .double] {
                if let value = try? file.value(forKey: AbsoluteConfigKey(key), type: type).value {
                    return (render(value.content), "config file \(path), key \(key.joined(separator: "."))")
                }
            }
        }
        return nil
    }

    private static func render(_ content: ConfigContent) -> String {
        switch content {
        case .string(let string): string
        case .int(let int): String(int)
        case .double(let double): String(double)
        case .bool(let bool): String(bool)
        default: String(describing: content)
        }
    }

    // MARK: Checking the file

    /// Throws for a file that is not a JSON object, a section that is not a subcommand, a key
    /// that is not an option (of its section's subcommand, or at the top level of any), a flag
    /// that is not a boolean, or an option whose value is not a string or a number. The error
    /// names the file and the key. (swift-configuration can look keys up but not list them, so
    /// the keys are listed here from Foundation's JSON parser.)
    static func check(_ data: Data, path: String, options: [String: [Declared]]) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw Failure(description: "config file \(path) is not valid JSON: \(describe(error))")
        }
        guard let top = object as? [String: Any] else {
            throw Failure(description: "config file \(path) must hold a JSON object ({\"option\": value, \"<subcommand>\": {...}})")
        }
        let everyOption = Dictionary(options.values.joined().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (key, value) in top.sorted(by: { $0.key < $1.key }) {
            if let section = value as? [String: Any] {
                guard let declared = options[key] else {
                    throw Failure(description: "config file \(path): unknown key '\(key)': a section is named after a subcommand (\(options.keys.sorted().joined(separator: ", ")))")
                }
                let known = Dictionary(declared.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
                for (name, value) in section.sorted(by: { $0.key < $1.key }) {
                    guard let option = known[name] else {
                        throw Failure(description: "config file \(path): unknown key '\(key).\(name)': \(suggestion(name, among: known.keys, of: key))")
                    }
                    try checkType(value, of: option, key: "\(key).\(name)", path: path)
                }
            } else {
                guard let option = everyOption[key] else {
                    throw Failure(description: "config file \(path): unknown key '\(key)': \(suggestion(key, among: everyOption.keys, of: nil))")
                }
                try checkType(value, of: option, key: key, path: path)
            }
        }
    }

    private static func checkType(_ value: Any, of option: Declared, key: String, path: String) throws {
        // JSON's true and false come out of Foundation as NSNumbers of type "c" (char).
        let isBool = (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
        if option.isFlag {
            guard isBool else {
                throw Failure(description: "config file \(path), key '\(key)': --\(option.name) is a flag: give it true or false, not \(jsonText(value))")
            }
        } else if isBool || !(value is String || value is NSNumber) {
            throw Failure(description: "config file \(path), key '\(key)': --\(option.name) takes a string or a number, not \(jsonText(value))")
        }
    }

    private static func suggestion(_ name: String, among names: some Sequence<String>, of subcommand: String?) -> String {
        let names = names.sorted()
        // A name it starts, else one at most three edits away.
        let close = names.map { ($0, $0.hasPrefix(name) ? 0 : Thermoshard.editDistance($0, name)) }
            .filter { !name.isEmpty && $0.1 <= 3 }.min { $0.1 < $1.1 }
        let what = subcommand.map { "not an option of \($0)" } ?? "not an option of any subcommand"
        return what + (close.map { "; did you mean '\($0.0)'?" } ?? "") + " (known: \(names.joined(separator: ", ")))"
    }

    private static func jsonText(_ value: Any) -> String {
        if let string = value as? String { return "\"\(string)\"" }
        guard JSONSerialization.isValidJSONObject([value]),
              let data = try? JSONSerialization.data(withJSONObject: [value], options: [.fragmentsAllowed]),
              let text = String(data: data, encoding: .utf8)
        else { return String(describing: value) }
        return String(text.dropFirst().dropLast())
    }

    private static func describe(_ error: any Error) -> String {
        let error = error as NSError
        return (error.userInfo[NSDebugDescriptionErrorKey] as? String) ?? error.localizedDescription
    }

    // MARK: Errors about added values

    /// The origins of the added values that `message` (a parse or validation error) names, as
    /// `--option` followed by something other than a letter, a digit or `-`.
    static func origins(namedIn message: String, among origins: [Origin]) -> [Origin] {
        origins.filter { origin in
            var rest = message[...]
            while let range = rest.range(of: "--" + origin.option) {
                let next = rest[range.upperBound...].first
                if next.map({ !($0.isLetter || $0.isNumber || $0 == "-") }) ?? true { return true }
                rest = rest[range.upperBound...]
            }
            return false
        }
    }
}
