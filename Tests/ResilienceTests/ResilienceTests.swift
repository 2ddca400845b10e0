import Control
import Logging
import Resilience
import Synchronization
import Testing

@Suite("Backoff and the rate-limited log")
struct ResilienceTests {
    @Test func backoffDoublesToItsCapWithJitterInTheUpperHalf() {
        var backoff = Backoff(base: .milliseconds(50), cap: .seconds(2))
        var random = SplitMix64(seed: 9)
        let ceilings: [Duration] = [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400),
                                    .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2)]
        for ceiling in ceilings {
            #expect(backoff.ceiling(afterFailures: backoff.failuresInARow) == ceiling)
            let wait = backoff.next(using: &random)
            #expect(wait >= ceiling / 2 && wait <= ceiling, "\(wait) outside \(ceiling / 2)...\(ceiling)")
        }
        backoff.reset()
        #expect(backoff.failuresInARow == 0)
        #expect(backoff.ceiling(afterFailures: 1000) == .seconds(2))
    }

    /// A log handler that keeps the lines.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    struct Capture: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { lines.lines.withLock { $0.append("\(event.message)") } }
    }

    @Test func aRepeatedLineIsLoggedOnceAnIntervalWithItsCount() async throws {
        let lines = Lines()
        let logger = Logger(label: "test") { _ in Capture(lines: lines) }
        var log = RateLimitedLog(interval: .milliseconds(200))
        for _ in 0..<100 { log.log("no answer", to: logger) }
        log.log("another error", to: logger)
        #expect(lines.all == ["no answer", "another error"])
        try await Task.sleep(for: .milliseconds(250))
        log.log("no answer", to: logger)
        #expect(lines.all.last == "no answer (99 similar suppressed since the last report)")
        log.recovered("answers again", to: logger)
        log.recovered("answers again", to: logger)
        #expect(lines.all.filter { $0 == "answers again" }.count == 1)
    }

    @Test func keyedLinesShareOneBudgetAndAreBuiltOnlyWhenLogged() {
        let lines = Lines()
        let logger = Logger(label: "test") { _ in Capture(lines: lines) }
        var log = RateLimitedLog(interval: .seconds(60))
        let built = Mutex(0)
        for i in 0..<10 {
            log.log({ built.withLock { $0 += 1 }; return "bad frame \(i)" }(), key: "bad-frame", to: logger)
        }
        #expect(lines.all == ["bad frame 0"])
        #expect(built.withLock { $0 } == 1)
    }
}
