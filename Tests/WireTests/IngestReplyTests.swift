import Testing
import Wire

@Suite("Ingest replies")
struct IngestReplyTests {
    @Test func encodesTheDocumentedForms() {
        func text(_ reply: IngestReply) -> String { String(decoding: reply.encode(), as: UTF8.self) }
        #expect(text(IngestReply(accepted: 0)) == #"{"accepted":0,"rejected":[]}"#)
        #expect(text(IngestReply(accepted: 2, rejected: [Rejection(index: 1, error: "sensor must be an unsigned 64-bit integer")]))
            == #"{"accepted":2,"rejected":[{"index":1,"error":"sensor must be an unsigned 64-bit integer"}]}"#)
        #expect(text(IngestReply(accepted: 0, rejected: [], error: "not JSON: expected a value at byte 0"))
            == #"{"accepted":0,"error":"not JSON: expected a value at byte 0"}"#)
        #expect(text(.refused("overloaded")) == #"{"accepted":0,"error":"overloaded"}"#)
        #expect(text(IngestReply(accepted: 0, rejected: [], error: "say \"hi\"\n")) == #"{"accepted":0,"error":"say \"hi\"\n"}"#)
    }

    @Test func roundTrip() throws {
        var rng = CodecTestRNG(seed: 5)
        let reasons = ["unknown field 'a\"b'", "é 😀 \u{1}\\", "", "temperature must be above -273.15"]
        for _ in 0..<200 {
            let rejected = (0..<Int(rng.next() % 5)).map { _ in
                Rejection(index: Int(rng.next() % 100_000), error: reasons[Int(rng.next() % UInt64(reasons.count))])
            }
            let reply = IngestReply(
                accepted: Int(rng.next() % 100_001), rejected: rejected,
                error: rng.next() % 3 == 0 ? reasons[Int(rng.next() % UInt64(reasons.count))] : nil)
            #expect(try IngestReply.decode(reply.encode()) == reply)
        }
    }

    @Test func decodingIgnoresUnknownMembersAndToleratesAbsentRejected() throws {
        let reply = try IngestReply.decode(Array(#"{"offsets":[[3,17]],"accepted":1,"rejected":[{"index":0,"error":"x","hint":"y"}]}"#.utf8))
        #expect(reply == IngestReply(accepted: 1, rejected: [Rejection(index: 0, error: "x")]))
        #expect(try IngestReply.decode(Array(#"{"accepted":0,"error":"nope"}"#.utf8)) == .refused("nope"))
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
    ])
    func decodingErrors(input: String, message: String) {
        do {
            _ = try IngestReply.decode(Array(input.utf8))
            Issue.record("decoded \(input)")
        } catch {
            #expect(error.description == message)
        }
    }
}
