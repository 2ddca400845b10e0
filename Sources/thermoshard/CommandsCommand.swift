import ArgumentParser
import Foundation
import ThermoshardClient
import Wire

/// `thermoshard commands`: reads the durable command log, the record that loses nothing (the
/// PUB feed is the live, best-effort one).
struct CommandsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "Read the durable command log from an offset (and follow it).",
        discussion: """
            Prints one command per line: its log offset, sensor, heater state, and the input \
            partition and offset of the reading that caused it. With --json, NDJSON objects \
            with the fields offset, sensor, action, heater, partition, input_offset.
            """
    )

    @Option(help: "The coordinator's admin address.")
    var admin = "tcp://127.0.0.1:7603"

    @Option(help: "The first command log offset to print.")
    var from: UInt64 = 0

    @Flag(help: "Keep waiting for new commands (until interrupted).")
    var follow = false

    @Flag(help: "Print NDJSON.")
    var json = false

    @Option(help: DurationArgument.connectTimeoutHelp)
    var connectTimeout = DurationArgument.defaultConnectTimeout

    @OptionGroup var security: ClientSecurityOptions

    func validate() throws {
        try Address.validate(admin, flag: "--admin")
        _ = try security.endpoint(url: admin, flag: "--admin", connectTimeout: connectTimeout)
    }

    func run() async throws {
        let admin = AdminClient(try security.endpoint(url: admin, flag: "--admin", connectTimeout: connectTimeout))
        let out = FileHandle.standardOutput
        var expected = from
        for try await page in admin.commandPages(from: from, follow: follow) {
            if expected < page.start {
                FileHandle.standardError.write(Data("note: commands \(expected)..<\(page.start) are no longer kept; starting at \(page.start)\n".utf8))
            }
            var text: [UInt8] = []
            text.reserveCapacity(page.commands.count * 112)
            for command in page.commands {
                if json {
                    command.appendJSONLine(to: &text)
                } else {
                    command.appendTextLine(to: &text)
                }
            }
            out.write(Data(text))
            expected = page.next
        }
    }
}
