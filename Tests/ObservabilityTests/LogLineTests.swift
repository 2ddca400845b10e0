import Foundation
import Logging
import Observability
import Synchronization
import Testing

/// `--log-format text|json`: the line schema log shippers rely on.
@Suite struct LogLineTests {
    /// 2026-12-02T10:30:00.123Z.
    static let time = Date(timeIntervalSince1970: 1_796_207_400.123)

    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(LogLineHandler.timestamp(Self.time) == "2026-12-02T10:30:00.123Z")
        // Fractions exact in binary, so the milliseconds are what they read: 7.8125 ms, 62.5 ms.
        #expect(LogLineHandler.timestamp(Date(timeIntervalSince1970: 0.0078125)) == "1970-01-01T00:00:00.007Z")
        #expect(LogLineHandler.timestamp(Date(timeIntervalSince1970: 86_400.0625)) == "1970-01-02T00:00:00.062Z")
        #expect(LogLineHandler.timestamp(Date(timeIntervalSince1970: 1_796_207_400.5)) == "2026-12-02T10:30:00.500Z")
    }

    @Test func textLineHasSortedKeyValues() {
        let line = LogLineHandler.line(format: .text, time: Self.time, level: .info, label: "thermoshard.coordinator",
                                       message: "assigned", metadata: ["worker": "w1", "epoch": "3", "partition": "7"])
        #expect(line == "2026-12-02T10:30:00.123Z info thermoshard.coordinator: assigned epoch=3 partition=7 worker=w1\n")
    }

    @Test func jsonLineIsOneObjectWithTheStableSchema() throws {
        let line = LogLineHandler.line(format: .json, time: Self.time, level: .warning, label: "thermoshard.worker",
                                       message: "said \"no\"\nthen\tleft \u{1}", metadata: ["epoch": .stringConvertible(3), "worker": "w\\1"])
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false, "one line")
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["ts", "level", "label", "message", "metadata"])
        #expect(object["ts"] as? String == "2026-12-02T10:30:00.123Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["label"] as? String == "thermoshard.worker")
        #expect(object["message"] as? String == "said \"no\"\nthen\tleft \u{1}")
        #expect(object["metadata"] as? [String: String] == ["epoch": "3", "worker": "w\\1"], "metadata values are strings")
        let empty = LogLineHandler.line(format: .json, time: Self.time, level: .info, label: "l", message: "m", metadata: [:])
        #expect(empty.contains(#""metadata":{}"#), "metadata is always present")
    }

    @Test func handlerMergesItsMetadataWithTheEvent() throws {
        let lines = Lines()
        var handler = LogLineHandler(label: "test", format: .json, level: .info, write: { lines.add($0) })
        handler[metadataKey: "worker"] = "w1"
        handler[metadataKey: "epoch"] = "1"
        var logger = Logger(label: "test") { _ in handler }
        logger.logLevel = .info
        logger.debug("not written")
        logger.info("moved", metadata: ["epoch": "2", "partition": "5"])
        let written = lines.all
        #expect(written.count == 1, "debug is below the level")
        let first = try #require(written.first)
        let object = try #require(JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(object["metadata"] as? [String: String] == ["worker": "w1", "epoch": "2", "partition": "5"], "the event's value wins")
    }
}

final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
