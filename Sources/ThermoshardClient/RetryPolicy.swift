import Resilience
public import Wire

/// When an ingest client sends a refused request again: only while the reply's code says that
/// may succeed (``Wire/RefusalCode/retryable``: overloaded, too many producers, shutting down),
/// after a pause that starts at `firstPause` and doubles up to `maxPause`, at most `attempts`
/// times in all (nil: without limit). The text of a refusal never decides.
public struct RetryPolicy: Sendable, Hashable {
    public var attempts: Int?
    public var firstPause: Duration
    public var maxPause: Duration

    public init(attempts: Int?, firstPause: Duration, maxPause: Duration) {
        precondition(attempts.map { $0 >= 1 } ?? true, "at least one attempt")
        self.attempts = attempts
        self.firstPause = firstPause
        self.maxPause = maxPause
    }

    /// 30 attempts, pausing 10 ms doubling to 1 s (about 25 s in all): for command-line clients.
    public static let standard = RetryPolicy(attempts: 30, firstPause: .milliseconds(10), maxPause: .seconds(1))

    /// The pause before attempt `attempt + 1` (attempts count from 1).
    public func pause(after attempt: Int) -> Duration {
        Backoff(base: firstPause, cap: maxPause).ceiling(afterFailures: attempt - 1)
    }

    /// Runs `attempt` until its reply is not a retryable refusal or the attempts are used up;
    /// the last reply (possibly a refusal) and how many refusals were retried.
    public func run(_ attempt: () async throws -> IngestReply) async throws -> IngestOutcome {
        var number = 1
        while true {
            let reply = try await attempt()
            guard reply.error != nil, reply.retryable, attempts.map({ number < $0 }) ?? true else {
                return IngestOutcome(reply: reply, retried: number - 1)
            }
            try await Task.sleep(for: pause(after: number))
            number += 1
        }
    }
}

/// What sending one request came to.
public struct IngestOutcome: Sendable, Hashable {
    /// The last reply: accepted (with any rejected items), or the refusal that was not retried.
    public var reply: IngestReply
    /// How many retryable refusals came before it (each answered by sending again).
    public var retried: Int

    public init(reply: IngestReply, retried: Int) {
        self.reply = reply
        self.retried = retried
    }
}

extension IngestReply {
    /// The refusal for a person: its code and text.
    public var refusal: String? { error.map { "refused (\(code?.rawValue ?? "no code")): \($0)" } }
}
