import Control
import Testing
import ThermoshardClient
import Wire

@Suite("Retry policy")
struct RetryPolicyTests {
    /// Runs `policy` over `replies` in turn; the outcome and how many were asked for.
    func run(_ policy: RetryPolicy, _ replies: [IngestReply]) async throws -> (IngestOutcome, Int) {
        var asked = 0
        let outcome = try await policy.run {
            defer { asked += 1 }
            return replies[min(asked, replies.count - 1)]
        }
        return (outcome, asked)
    }

    static let fast = RetryPolicy(attempts: 5, firstPause: .zero, maxPause: .zero)

    @Test func retryableRefusalsAreSentAgainUntilAccepted() async throws {
        let replies: [IngestReply] = [.refused("busy", code: .overloaded), .refused("full", code: .tooManyProducers), IngestReply(accepted: 3)]
        let (outcome, asked) = try await run(Self.fast, replies)
        #expect(asked == 3)
        #expect(outcome == IngestOutcome(reply: IngestReply(accepted: 3), retried: 2))
    }

    @Test func otherRefusalsAndRejectionsEndAtOnce() async throws {
        let (refused, askedRefused) = try await run(Self.fast, [.refused("seq 3 is below 5", code: .stale)])
        #expect(askedRefused == 1 && refused.reply.code == .stale && refused.retried == 0)
        let rejected = IngestReply(accepted: 1, rejected: [Rejection(index: 1, error: "bad")])
        let (accepted, askedAccepted) = try await run(Self.fast, [rejected])
        #expect(askedAccepted == 1 && accepted.reply == rejected)
    }

    @Test func attemptsAreCappedAndTheLastRefusalReturned() async throws {
        let (outcome, asked) = try await run(Self.fast, [.refused("stopping", code: .shuttingDown)])
        #expect(asked == 5)
        #expect(outcome.retried == 4 && outcome.reply.code == .shuttingDown)
        #expect(outcome.reply.refusal == "refused (shutting_down): stopping")
    }

    @Test func pausesDoubleUpToTheCap() {
        let policy = RetryPolicy(attempts: nil, firstPause: .milliseconds(10), maxPause: .milliseconds(50))
        #expect((1...5).map(policy.pause(after:)) == [.milliseconds(10), .milliseconds(20), .milliseconds(40), .milliseconds(50), .milliseconds(50)])
        #expect(RetryPolicy.standard.pause(after: 30) == .seconds(1))
    }
}

@Suite("Ingest bodies")
struct IngestBodyTests {
    @Test func jsonEnvelopesDecodeWithTheirProducerAndSeq() throws {
        let items = [#"{"sensor":17,"temperature":21.4}"#, #"{"sensor":18,"desired":20,"up":0.5,"down":0.5}"#]
        let plain = try IngestDecoder.decode(IngestBody.json(items)).get()
        #expect(plain.items.count == 2 && plain.producer == nil)
        let body = IngestBody.json(items, envelope: ProducerEnvelope(producer: "p\"1", seq: 7))
        let request = try IngestDecoder.decode(body).get()
        #expect(request.producer == "p\"1" && request.seq == 7 && request.items.count == 2 && request.rejected.isEmpty)
    }

    @Test func binaryBatchesCarryTheirItemsAndEnvelope() throws {
        let items: [Item] = [.reading(sensor: 1, temperature: 20), .setting(sensor: 2, Setting(unchecked: 21, up: 1, down: 1))]
        let request = try IngestDecoder.decode(IngestBody.binary(items, envelope: ProducerEnvelope(producer: "bench", seq: 1))).get()
        #expect(request.items == items && request.producer == "bench" && request.seq == 1)
        #expect(try IngestDecoder.decode(IngestBody.binary(items)).get().producer == nil)
    }
}
