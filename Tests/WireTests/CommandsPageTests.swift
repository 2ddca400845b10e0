import Control
import Foundation
import Testing
import Wire

@Suite("Command log pages")
struct CommandsPageTests {
    static let page = CommandsReply(commands: [
        .init(offset: 7, sensor: 17, action: 1, heater: "off", partition: 35, inputOffset: 1042),
        .init(offset: 8, sensor: .max, action: 0, heater: "on", partition: 0, inputOffset: 0),
    ], next: 9, start: 2, end: 12)

    /// The hand-written JSON is what Foundation's encoder wrote before, byte for byte.
    @Test func jsonIsTheDocumentedReply() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(String(decoding: Self.page.encodeJSON(), as: UTF8.self) == String(decoding: try encoder.encode(Self.page), as: UTF8.self))
        #expect(try JSONDecoder().decode(CommandsReply.self, from: Data(Self.page.encodeJSON())) == Self.page)
        let empty = CommandsReply(commands: [], next: 3, start: 0, end: 3)
        #expect(String(decoding: empty.encodeJSON(), as: UTF8.self) == #"{"commands":[],"end":3,"next":3,"start":0}"#)
    }

    @Test func jsonLinesAreTheEncodersLines() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var lines: [UInt8] = []
        for entry in Self.page.commands { entry.appendJSONLine(to: &lines) }
        let expected = try Self.page.commands.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
        #expect(String(decoding: lines, as: UTF8.self) == expected)
    }

    @Test func textLinesAreWhatTheCommandsCommandPrints() {
        var lines: [UInt8] = []
        for entry in Self.page.commands { entry.appendTextLine(to: &lines) }
        #expect(String(decoding: lines, as: UTF8.self) == "7 sensor 17 heater off (input 35:1042)\n8 sensor 18446744073709551615 heater on (input 0:0)\n")
    }

    @Test func binaryRoundTrips() throws {
        let bytes = Self.page.encodeBinary()
        #expect(CommandsReply.isBinary(bytes))
        #expect(bytes.count == 32 + 2 * FeedBatch.recordSize)
        #expect(try CommandsReply.decodeBinary(bytes) == Self.page)
        #expect(throws: DecodeError.self) { try CommandsReply.decodeBinary(Array(bytes.dropLast())) }
        var version = bytes
        version[3] = 2
        #expect(throws: DecodeError("unsupported binary commands page version 2 (this build reads 1)")) { try CommandsReply.decodeBinary(version) }
        #expect(!CommandsReply.isBinary(Self.page.encodeJSON()))
    }
}
