import Foundation
import NNG
import Synchronization
import Testing
import ThermoshardClient
import Wire

/// A REP socket on an inproc address that answers each request with the next of `replies`
/// (the last one again when they run out) and keeps what it was sent: a scripted coordinator.
final class ScriptedCoordinator: Sendable {
    let url = "inproc://clienttests-\(UInt64.random(in: 0 ... .max))"
    private let log = RequestLog()
    private let socket: Socket
    private let server: Task<Void, Never>

    /// With `replies` empty it receives and never answers.
    init(replies: [[UInt8]]) throws {
        let socket = try Socket(.rep)
        try socket.listen(url)
        self.socket = socket
        server = Task { [log] in
            var index = 0
            while let request = try? await socket.receive().bytes {
                log.requests.withLock { $0.append(request) }
                guard !replies.isEmpty else { continue }
                try? await socket.send(replies[min(index, replies.count - 1)])
                index += 1
            }
        }
    }

    /// The requests it received, in order.
    var received: [[UInt8]] { log.requests.withLock { $0 } }

    func endpoint(connectTimeout: Duration = .seconds(5)) -> Endpoint {
        Endpoint(url: url, flag: "--test", connectTimeout: connectTimeout)
    }

    func stop() async {
        await socket.close()
        await server.value
    }
}

final class RequestLog: Sendable {
    let requests = Mutex<[[UInt8]]>([])
}

@Suite("Clients against a scripted coordinator")
struct ClientSocketTests {
    static let fast = RetryPolicy(attempts: 10, firstPause: .milliseconds(1), maxPause: .milliseconds(1))

    @Test func aConnectionSendsTheSameBytesAgainWhileOverloaded() async throws {
        let coordinator = try ScriptedCoordinator(replies: [
            IngestReply.refused("busy", code: .overloaded).encode(), IngestReply(accepted: 2).encode(),
        ])
        let connection = try await IngestConnection(coordinator.endpoint(), retry: Self.fast)
        var stamps = 0
        let body = IngestBody.binary([.reading(sensor: 1, temperature: 20), .reading(sensor: 2, temperature: 21)])
        let outcome = try await connection.send(body) { stamps += 1 }
        await connection.close()
        await coordinator.stop()
        #expect(outcome == IngestOutcome(reply: IngestReply(accepted: 2), retried: 1))
        #expect(stamps == 2)
        #expect(coordinator.received == [body, body])
    }

    @Test func aClientStopsAtARefusalThatCannotSucceed() async throws {
        let coordinator = try ScriptedCoordinator(replies: [IngestReply.refused("seq 1 is below 4", code: .stale).encode()])
        let outcome = try await IngestClient(coordinator.endpoint(), retry: Self.fast)
            .send([.reading(sensor: 1, temperature: 20)], envelope: ProducerEnvelope(producer: "p", seq: 1))
        await coordinator.stop()
        #expect(outcome.retried == 0 && outcome.reply.code == .stale)
        let sent = try #require(coordinator.received.first)
        #expect(try IngestDecoder.decode(sent).get().producer == "p")
    }

    @Test func adminErrorsAreThrownWithTheirCode() async throws {
        let coordinator = try ScriptedCoordinator(replies: [Array(#"{"error":"no worker w9","code":"not_found","retryable":false}"#.utf8)])
        let error = await #expect(throws: ClientError.self) {
            try await AdminClient(coordinator.endpoint()).drain("w9")
        }
        await coordinator.stop()
        #expect(error?.description == "no worker w9" && error?.code == .notFound)
        let request = try #require(coordinator.received.first)
        #expect(try JSONDecoder().decode(AdminRequest.self, from: Data(request)) == AdminRequest(command: "drain", worker: "w9", force: false))
    }

    @Test func commandPagesEndAtTheLogsEndUnlessFollowing() async throws {
        let entry = CommandsReply.Entry(offset: 1, sensor: 17, action: 1, heater: "off", partition: 3, inputOffset: 9)
        let coordinator = try ScriptedCoordinator(replies: [
            CommandsReply(commands: [entry], next: 2, start: 1, end: 3).encodeBinary(),
            CommandsReply(commands: [], next: 3, start: 1, end: 3).encodeBinary(),
        ])
        var pages: [CommandsReply] = []
        for try await page in AdminClient(coordinator.endpoint()).commandPages(from: 0, follow: false) { pages.append(page) }
        await coordinator.stop()
        #expect(pages.map(\.next) == [2, 3])
        #expect(pages.first?.commands == [entry])
        let asked = try coordinator.received.map { try JSONDecoder().decode(AdminRequest.self, from: Data($0)) }
        #expect(asked.map(\.from) == [0, 2] && asked.allSatisfy { $0.waitMilliseconds == 0 && $0.command == "commands" && $0.format == "binary" })
    }

    @Test func noListenerAndNoAnswerAreNamedErrors() async throws {
        let nobody = Endpoint(url: "inproc://clienttests-nobody-\(UInt64.random(in: 0 ... .max))", flag: "--admin", connectTimeout: .milliseconds(50))
        let unreachable = await #expect(throws: ClientError.self) { try await nobody.request([1]) }
        #expect(unreachable?.description.hasPrefix("cannot reach the coordinator at \(nobody.url) (--admin): no connection within") == true)

        let silent = try ScriptedCoordinator(replies: [])
        let unanswered = await #expect(throws: ClientError.self) {
            try await silent.endpoint().request([1], timeout: .milliseconds(100))
        }
        await silent.stop()
        #expect(unanswered?.description.hasPrefix("no answer from the coordinator at \(silent.url) (--test) within") == true)
    }
}
