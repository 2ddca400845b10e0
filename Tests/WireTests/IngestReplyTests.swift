import Control
import Foundation
import Testing
import Wire

@Suite("Ingest replies")
struct IngestReplyTests {
    @Test func encodesTheDocumentedForms() {
        func text(_ reply: IngestReply) -> String { String(decoding: reply.encode(), as: UTF8.self) }
        #expect(text(IngestReply(accepted: 0)) == #"{"accepted":0,"rejected":[]}"#)
        #expect(text(IngestReply(accepted: 2, rejected: [Rejection(index: 1, error: "sensor must be an unsigned 64-bit integer")]))
            == #"{"accepted":2,"rejected":[{"index":1,"error":"sensor must be an unsigned 64-bit integer"}]}"#)
        #expect(text(.refused("not JSON: expected a value at byte 0", code: .invalid))
            == #"{"accepted":0,"error":"not JSON: expected a value at byte 0","code":"invalid","retryable":false}"#)
        #expect(text(.refused("overloaded: 9 items are waiting", code: .overloaded))
            == #"{"accepted":0,"error":"overloaded: 9 items are waiting","code":"overloaded","retryable":true}"#)
        #expect(text(.refused("say \"hi\"\n", code: .stale)) == #"{"accepted":0,"error":"say \"hi\"\n","code":"stale","retryable":false}"#)
        #expect(text(IngestReply(accepted: 1, rejected: [Rejection(index: 1, error: "x")], rejectedTotal: 5))
            == #"{"accepted":1,"rejected":[{"index":1,"error":"x"}],"rejected_total":5,"truncated":true}"#)
    }

    @Test func roundTrip() throws {
        var rng = SplitMix64(seed: 5)
        let reasons = ["unknown field 'a\"b'", "é 😀 \u{1}\\", "", "temperature must be above -273.15"]
        for _ in 0..<200 {
            let rejected = (0..<Int(rng.next() % 5)).map { _ in
                Rejection(index: Int(rng.next() % 100_000), error: reasons[Int(rng.next() % UInt64(reasons.count))])
            }
            let codes: [RefusalCode] = [.overloaded, .tooManyProducers, .shuttingDown, .stale, .invalid, .tooLarge, .storageFailure, RefusalCode("from_the_future")]
            let refused = rng.next() % 3 == 0
            let reply = IngestReply(
                accepted: Int(rng.next() % 100_001), rejected: rejected,
                error: refused ? reasons[Int(rng.next() % UInt64(reasons.count))] : nil,
                code: refused ? codes[Int(rng.next() % UInt64(codes.count))] : nil,
                rejectedTotal: rng.next() % 4 == 0 ? rejected.count + Int(rng.next() % 100) : nil)
            #expect(try IngestReply.decode(reply.encode()) == reply)
        }
    }

    @Test func decodingIgnoresUnknownMembersAndToleratesAbsentRejected() throws {
        let reply = try IngestReply.decode(Array(#"{"offsets":[[3,17]],"accepted":1,"rejected":[{"index":0,"error":"x","hint":"y"}]}"#.utf8))
        #expect(reply == IngestReply(accepted: 1, rejected: [Rejection(index: 0, error: "x")]))
        // A reply from a coordinator before codes: no code, not retryable.
        let old = try IngestReply.decode(Array(#"{"accepted":0,"error":"overloaded: retry later"}"#.utf8))
        #expect(old.error == "overloaded: retry later" && old.code == nil && !old.retryable)
        // The sender's retryable flag is taken as sent, also for a code this build does not know.
        let future = try IngestReply.decode(Array(#"{"accepted":0,"error":"x","code":"from_the_future","retryable":true}"#.utf8))
        #expect(future.code == RefusalCode("from_the_future") && future.retryable)
        #expect(try IngestReply.decode(Array(#"{"accepted":0,"rejected":[],"error":null}"#.utf8)) == IngestReply(accepted: 0))
    }

    @Test(arguments: [
        ("", "invalid ingest reply: not JSON: expected a value, found the end at byte 0"),
        ("[]", "invalid ingest reply: not a JSON object"),
        (#"{"rejected":[]}"#, "invalid ingest reply: accepted is missing"),
        (#"{"accepted":-1,"rejected":[]}"#, "invalid ingest reply: accepted must be a non-negative integer"),
        (#"{"accepted":"1","rejected":[]}"#, "invalid ingest reply: accepted must be a non-negative integer"),
        (#"{"accepted":1,"rejected":{}}"#, "invalid ingest reply: rejected must be an array"),
        (#"{"accepted":1,"rejected":[{"index":1}]}"#, "invalid ingest reply: each rejected entry needs an index (a non-negative integer) and an error (a string)"),
        (#"{"accepted":1,"rejected":[{"index":-1,"error":"x"}]}"#, "invalid ingest reply: each rejected entry needs an index (a non-negative integer) and an error (a string)"),
        (#"{"accepted":0,"error":5}"#, "invalid ingest reply: error must be a string"),
        (#"{"accepted":0,"error":"x","code":5}"#, "invalid ingest reply: code must be a string"),
        (#"{"accepted":0,"error":"x","code":"stale","retryable":"no"}"#, "invalid ingest reply: retryable must be a boolean"),
        (#"{"accepted":0,"rejected":[],"rejected_total":-2}"#, "invalid ingest reply: rejected_total must be a non-negative integer"),
    ])
    func decodingErrors(input: String, message: String) {
        do {
            _ = try IngestReply.decode(Array(input.utf8))
            Issue.record("decoded \(input)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func everyCodeSaysWhetherToRetry() {
        let retryable: [RefusalCode] = [.overloaded, .tooManyProducers, .shuttingDown]
        let final: [RefusalCode] = [.stale, .invalid, .tooLarge, .storageFailure, .unknownCommand, .notFound, RefusalCode("from_the_future")]
        for code in retryable { #expect(code.retryable, "\(code)") }
        for code in final { #expect(!code.retryable, "\(code)") }
        #expect(Set((retryable + final).map(\.rawValue)).count == retryable.count + final.count)
    }

    /// A reply that fits in the kept size is kept word for word; a longer one keeps the counts
    /// and as many of the first rejections as fit, each reason cut, and says so.
    @Test func keptRepliesAreTheReplyOrItsBoundedForm() throws {
        let small = IngestReply(accepted: 2, rejected: [Rejection(index: 1, error: "sensor is missing")])
        #expect(small.retained(encoded: small.encode()) == small.encode())

        let reason = "unknown field '" + String(repeating: "é", count: 80) + "'"
        let big = IngestReply(accepted: 10, rejected: (0..<99_990).map { Rejection(index: 10 + $0, error: reason) })
        let kept = big.retained(encoded: big.encode())
        #expect(kept.count <= IngestReply.retainedBytes)
        let decoded = try IngestReply.decode(kept)
        #expect(decoded.accepted == 10)
        #expect(decoded.rejectedTotal == 99_990 && decoded.truncated)
        #expect(!decoded.rejected.isEmpty)
        #expect(decoded.rejected.map(\.index) == Array(10..<(10 + decoded.rejected.count)))
        for rejection in decoded.rejected {
            #expect(rejection.error.utf8.count <= IngestReply.retainedReasonBytes)
            #expect(rejection.error.hasPrefix("unknown field 'é") && rejection.error.hasSuffix("..."))
        }
        // Reasons of control characters grow sixfold when escaped: still within the bound.
        let control = IngestReply(accepted: 0, rejected: (0..<50).map { Rejection(index: $0, error: String(repeating: "\u{1}", count: 500)) })
        let keptControl = control.retained(encoded: control.encode())
        #expect(keptControl.count <= IngestReply.retainedBytes)
        #expect(try IngestReply.decode(keptControl).rejectedTotal == 50)
        // Keeping an already kept reply changes nothing.
        #expect(IngestReply.retainedEncoding(of: kept) == kept)
        #expect(IngestReply.retainedEncoding(of: big.encode()) == kept)
        #expect(IngestReply.retainedEncoding(of: [UInt8](repeating: 0x20, count: 5000)) == nil)
    }

    @Test func adminErrorsCarryACode() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let error = AdminError(error: "no worker 'w9'", code: .notFound)
        #expect(String(decoding: try encoder.encode(error), as: UTF8.self) == #"{"code":"not_found","error":"no worker 'w9'","retryable":false}"#)
        #expect(try JSONDecoder().decode(AdminError.self, from: try encoder.encode(error)) == error)
        // From a coordinator before codes.
        let old = try JSONDecoder().decode(AdminError.self, from: Data(#"{"error":"unknown admin command"}"#.utf8))
        #expect(old.error == "unknown admin command" && old.code == nil && !old.retryable)
        // A status reply is not an error.
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(AdminError.self, from: Data(#"{"partition_count":4}"#.utf8)) }
    }
}
