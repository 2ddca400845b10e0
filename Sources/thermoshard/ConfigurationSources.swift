import ArgumentParser
import Foundation

/// Options from the environment and a config file, below the command line:
/// flag, then `THERMOSHARD_<NAME>`, then the config file, then the default.
///
/// Every option of a subcommand can be set as `THERMOSHARD_` and its name in upper snake case
/// (`--heartbeat-timeout` is `THERMOSHARD_HEARTBEAT_TIMEOUT`; a flag takes `1`/`true`/`yes`), or
/// in the file named by `--config FILE` or `THERMOSHARD_CONFIG`:
///
///     # applies to every subcommand that has the option
///     log-level = debug
///     [coordinator]
///     data = "/var/lib/thermoshard"
///     heartbeat-timeout = 800ms
///     [worker]
///     coordinator = "tcp://10.0.0.1:7602"
///
/// The values are turned into command-line arguments, appended after the real ones for the
/// options the command line leaves out, so the parser validates them like any flag.
enum ConfigurationSources {
    static let environmentPrefix = "THERMOSHARD_"
    static let precedence = """
        Every option may also come from the environment as THERMOSHARD_<OPTION> (e.g. \
        THERMOSHARD_HEARTBEAT_TIMEOUT=2s; flags take 1/true/yes) or from a config file named by \
        --config FILE or THERMOSHARD_CONFIG (lines 'option = value', optional [subcommand] \
        sections). Precedence: flag, then environment, then file, then default.
        """

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// An option a command declares: its long name and whether it is a flag.
    struct Declared: Equatable {
        let name: String
        let isFlag: Bool
    }

    /// The options of a command and of the option groups it lists, read by reflection from
    /// its property wrappers (their names follow ArgumentParser's default: the property name
    /// in kebab case).
    static func declaredOptions(_ types: [any ParsableArguments.Type]) -> [Declared] {
        var out: [Declared] = []
        for type in types {
            for child in Mirror(reflecting: type.init()).children {
                guard let label = child.label, label.hasPrefix("_") else { continue }
                let kind = String(describing: Swift.type(of: child.value))
                let isFlag = kind.hasPrefix("Flag<")
                guard isFlag || kind.hasPrefix("Option<") else { continue }
                out.append(Declared(name: kebab(String(label.dropFirst())), isFlag: isFlag))
            }
        }
        return out
    }

    static func kebab(_ camel: String) -> String {
        var out = ""
        for character in camel {
            if character.isUppercase {
                out += "-" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }

    static func environmentName(_ option: String) -> String {
        environmentPrefix + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// `arguments` (without the program name) with `--config` taken out and the environment's
    /// and file's values added for options the command line does not give.
    static func merge(
        arguments: [String], subcommand: String, options: [Declared],
        environment: [String: String], readFile: (String) throws -> String
    ) throws -> [String] {
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
        var file: [String: String] = [:]
        if let configPath {
            let text: String
            do {
                text = try readFile(configPath)
            } catch {
                throw Failure(description: "cannot read config file \(configPath): \(error.localizedDescription)")
            }
            file = try parse(text, path: configPath, subcommand: subcommand, known: Set(options.map(\.name)))
        }
        var extra: [String] = []
        for option in options where !given.contains(option.name) {
            guard let value = environment[environmentName(option.name)] ?? file[option.name] else { continue }
            if option.isFlag {
                switch value.lowercased() {
                case "1", "true", "yes", "on": extra.append("--\(option.name)")
                case "0", "false", "no", "off", "": break
                default: throw Failure(description: "\(option.name) is a flag: give it true or false, not '\(value)'")
                }
            } else {
                extra.append("--\(option.name)=\(value)")
            }
        }
        // After a `--` terminator nothing would parse as an option: insert before it.
        if let terminator = arguments.firstIndex(of: "--") {
            arguments.insert(contentsOf: extra, at: terminator)
        } else {
            arguments.append(contentsOf: extra)
        }
        return arguments
    }

    /// The settings that apply to `subcommand`: top-level lines (for the options it knows) and
    /// its own section (where an unknown option is an error).
    static func parse(_ text: String, path: String, subcommand: String, known: Set<String>) throws -> [String: String] {
        var values: [String: String] = [:]
        var section: String?
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if let hash = line.firstIndex(of: "#"), !line[..<hash].contains("\"") { line = String(line[..<hash]).trimmingCharacters(in: .whitespaces) }
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw Failure(description: "\(path):\(number + 1): a section is written [name]") }
                section = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw Failure(description: "\(path):\(number + 1): expected 'option = value', got '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            switch section {
            case nil:
                if known.contains(key) { values[key] = value }
            case subcommand?:
                guard known.contains(key) else {
                    throw Failure(description: "\(path):\(number + 1): '\(key)' is not an option of \(subcommand) (known: \(known.sorted().joined(separator: ", ")))")
                }
                values[key] = value
            default:
                continue
            }
        }
        return values
    }
}
