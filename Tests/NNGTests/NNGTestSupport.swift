import NNG
import Testing

/// Shared helpers of the NNG tests: unique addresses, bounded waits, pipe-event waits.
enum NNGTestKit {
    /// The longest any single wait in these tests may take before the test fails instead of hanging.
    static let patience: Duration = .seconds(10)

    static func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// A fresh inproc address, unique per call (tests run in parallel in one process).
    static func inprocURL(_ name: String = #function) -> String {
        let cleaned = name.filter { $0.isLetter || $0.isNumber }
        return "inproc://nngtests-\(cleaned)-\(UInt64.random(in: 0 ... .max))"
    }

    /// Ports below the kernel's ephemeral range (32768-60999 on Linux), so that a dial to a port
    /// nobody listens on can never end in a TCP self-connect.
    static let portRange = 20_000 ... 32_000

    /// Listens on a random free loopback TCP port (the wrapper's `listen` does not report the bound
    /// port, so port 0 is of no use) and returns the URL. Retries on a port in use.
    static func listenOnFreeTCPPort(_ socket: Socket) throws -> String {
        var lastError = NNGError.addressInUse
        for _ in 0 ..< 200 {
            let url = "tcp://127.0.0.1:\(Int.random(in: portRange))"
            let error = listenError(socket, url)
            if error == nil { return url }
            lastError = error!
            if lastError != .addressInUse { break }
        }
        throw lastError
    }

    /// `socket.listen(url)`, with the error as a value.
    private static func listenError(_ socket: Socket, _ url: String) -> NNGError? {
        do {
            try socket.listen(url)
            return nil
        } catch {
            return error
        }
    }

    /// A loopback TCP URL nobody listens on right now (probed by listening on it and closing),
    /// for tests that must dial before anyone listens.
    static func unusedTCPURL() throws -> String {
        let probe = try Socket(.pair1)
        defer { probe.close() }
        return try listenOnFreeTCPPort(probe)
    }

    /// Runs `operation`, failing with ``WaitTimedOut`` if it takes longer than `limit` (the
    /// operation is then cancelled).
    static func withTimeout<T: Sendable>(
        _ limit: Duration = patience,
        _ what: String = "operation",
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: limit)
                throw WaitTimedOut(what: what, limit: limit)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// The next pipe event, or nil once the stream has finished; bounded by `limit`.
    static func nextEvent(_ events: AsyncStream<PipeEvent>, within limit: Duration = patience) async throws -> PipeEvent? {
        try await withTimeout(limit, "pipe event") {
            var iterator = events.makeAsyncIterator()
            return await iterator.next()
        }
    }

    /// Waits for the next event and requires it to be an addition; returns the added pipe.
    static func nextAdded(
        _ events: AsyncStream<PipeEvent>, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Pipe {
        let event = try await nextEvent(events)
        guard case .added(let pipe)? = event else {
            Issue.record("expected a pipe to be added, got \(String(describing: event))", sourceLocation: sourceLocation)
            throw UnexpectedEvent(event: event)
        }
        return pipe
    }

    /// Waits for the next event and requires it to be the removal of `pipe`.
    static func expectRemoved(
        _ pipe: Pipe, from events: AsyncStream<PipeEvent>, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let event = try await nextEvent(events)
        #expect(event == .removed(pipe), sourceLocation: sourceLocation)
    }

    /// How a test ends a pending operation: by cancelling its task, or by running `close`.
    enum Interrupt: Sendable {
        case cancel
        case close(@Sendable () -> Void)
    }

    /// Starts `operation` (a send or receive that would wait far longer than the test), waits
    /// until it is under way, interrupts it, and returns the NNG error it ended with and how
    /// long after the interruption that took.
    static func interrupted(
        _ operation: @escaping @Sendable () async throws -> Void, by interrupt: Interrupt
    ) async throws -> (error: NNGError?, after: Duration) {
        let started = Signal()
        let task = Task {
            await Self.error {
                started.raise()
                try await operation()
            }
        }
        try await started.wait()
        let clock = ContinuousClock()
        let start = clock.now
        switch interrupt {
        case .cancel: task.cancel()
        case .close(let close): close()
        }
        let ended = await task.value
        return (ended, clock.now - start)
    }

    /// Runs `body` and returns the NNG error it ended with, or nil if it succeeded. (Closures
    /// passed here throw only NNG errors; anything else is recorded as an issue.)
    static func error(
        sourceLocation: SourceLocation = #_sourceLocation, of body: () async throws -> Void
    ) async -> NNGError? {
        do {
            try await body()
            return nil
        } catch let error as NNGError {
            return error
        } catch {
            Issue.record("unexpected non-NNG error \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }
}

struct WaitTimedOut: Error, CustomStringConvertible {
    let what: String
    let limit: Duration
    var description: String { "\(what) did not happen within \(limit)" }
}

struct UnexpectedEvent: Error {
    let event: PipeEvent?
}

/// A one-shot signal a task raises and another awaits (bounded): "I got this far".
final class Signal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func raise() { continuation.yield() }

    func wait(within limit: Duration = NNGTestKit.patience) async throws {
        let stream = stream
        try await NNGTestKit.withTimeout(limit, "signal") {
            var iterator = stream.makeAsyncIterator()
            _ = await iterator.next()
        }
    }
}
