import Control
import CoordinatorCore
import Testing
import Wire

/// The producers' and operators' credentials (CoordinatorCore/Credentials.swift): file formats
/// and the decisions on ingest and admin requests.
@Suite("Credentials: producers and operators")
struct CredentialsTests {
    static let producersFile = """
        # token                              name      may send
        reader-token-0123456789abcdef        plant-7   readings
        operator-token-0123456789abcdef      operator  both

        setter-token-0123456789abcdef        console   settings
        """

    static let credentials = try! ProducerCredentials(parsing: producersFile, file: "producers")

    static let setting: Item = .setting(sensor: 17, try! Setting(desired: 21, up: 0.5, down: 0.5))
    static let reading: Item = .reading(sensor: 17, temperature: 25)

    static func request(_ items: [Item]) -> [UInt8] { Array(IngestBodyForTests.binary(items)) }

    @Test func theProducersFileIsParsed() throws {
        #expect(Self.credentials.producers.map(\.name) == ["plant-7", "operator", "console"])
        #expect(Self.credentials.producers.map(\.permission) == [.readings, .both, .settings])
    }

    @Test(arguments: [
        ("short plant readings", "at least 16"),
        ("reader-token-0123456789abcdef plant", "expected 'TOKEN NAME"),
        ("reader-token-0123456789abcdef plant everything", "not readings, settings or both"),
        ("reader-token-0123456789abcdef a readings\nreader-token-0123456789abcdef b both", "given twice"),
        ("# nothing but a comment", "names no producer"),
    ])
    func badProducersFilesAreRefusedNamingTheLine(text: String, problem: String) {
        #expect {
            try ProducerCredentials(parsing: text, file: "p.txt")
        } throws: { error in
            "\(error)".contains(problem) && "\(error)".contains("p.txt")
        }
    }

    @Test func aRequestWithoutACredentialIsRefusedUnauthorized() {
        guard case .failure(let error) = ProducerCredentials.decode(Self.request([Self.reading]), credentials: Self.credentials) else {
            Issue.record("refused")
            return
        }
        #expect(error.code == .unauthorized)
        #expect(!error.code.retryable)
    }

    @Test func anUnknownTokenIsRefused() {
        let wrapped = IngestCredential.wrap(Self.request([Self.reading]), token: "not-a-known-token-0123456789")
        guard case .failure(let error) = ProducerCredentials.decode(wrapped, credentials: Self.credentials) else {
            Issue.record("refused")
            return
        }
        #expect(error.code == .unauthorized)
        #expect(error.message.contains("unknown producer token"))
    }

    @Test func aReadingsOnlyProducerCannotSendASetting() {
        let wrapped = IngestCredential.wrap(Self.request([Self.reading, Self.setting]), token: "reader-token-0123456789abcdef")
        guard case .failure(let error) = ProducerCredentials.decode(wrapped, credentials: Self.credentials) else {
            Issue.record("the whole request is refused")
            return
        }
        #expect(error.code == .unauthorized)
        #expect(error.message.contains("may send readings only"))
        let settingsOnly = IngestCredential.wrap(Self.request([Self.reading]), token: "setter-token-0123456789abcdef")
        #expect(throws: IngestError.self) { try ProducerCredentials.decode(settingsOnly, credentials: Self.credentials).get() }
    }

    @Test func aValidCredentialLetsTheRequestThrough() throws {
        let wrapped = IngestCredential.wrap(Self.request([Self.reading, Self.setting]), token: "operator-token-0123456789abcdef")
        #expect(try ProducerCredentials.decode(wrapped, credentials: Self.credentials).get().items == [Self.reading, Self.setting])
        let json = IngestCredential.wrap(Array(#"{"sensor":17,"temperature":25}"#.utf8), token: "reader-token-0123456789abcdef")
        #expect(try ProducerCredentials.decode(json, credentials: Self.credentials).get().items == [Self.reading])
    }

    @Test func anEnvelopeNamesTheCredentialsProducer() throws {
        let own = IngestCredential.wrap(Array(#"{"producer":"plant-7/a","seq":1,"items":[{"sensor":17,"temperature":25}]}"#.utf8), token: "reader-token-0123456789abcdef")
        #expect(throws: Never.self) { try ProducerCredentials.decode(own, credentials: Self.credentials).get() }
        let other = IngestCredential.wrap(Array(#"{"producer":"operator","seq":1,"items":[{"sensor":17,"temperature":25}]}"#.utf8), token: "reader-token-0123456789abcdef")
        #expect(throws: IngestError.self) { try ProducerCredentials.decode(other, credentials: Self.credentials).get() }
    }

    /// Without --producers-file a credential frame is unwrapped and the token ignored; plain
    /// requests stay valid.
    @Test func withoutCredentialsAWrappedRequestIsTaken() throws {
        let wrapped = IngestCredential.wrap(Self.request([Self.setting]), token: "anything-at-all-0123456789")
        #expect(try ProducerCredentials.decode(wrapped, credentials: nil).get().items == [Self.setting])
        #expect(try ProducerCredentials.decode(Self.request([Self.setting]), credentials: nil).get().items == [Self.setting])
    }

    @Test func malformedCredentialFramesAreInvalid() {
        var wrapped = IngestCredential.wrap(Self.request([Self.setting]), token: "anything-at-all-0123456789")
        wrapped[3] = 9
        #expect(throws: IngestError.self) { try ProducerCredentials.decode(wrapped, credentials: nil).get() }
        #expect(throws: IngestError.self) { try ProducerCredentials.decode([0xFE, 0x54, 0x41, 1, 200, 0, 1], credentials: nil).get() }
    }

    // MARK: Admin

    static let admin = try! AdminCredentials(parsing: "read  read-token-0123456789abcdef   # status, commands\nwrite write-token-0123456789abcdef\n", file: "admin")

    @Test func adminTokensSeparateReadingFromDraining() {
        #expect(Self.admin.refusal(command: "status", token: nil) != nil)
        #expect(Self.admin.refusal(command: "status", token: "read-token-0123456789abcdef") == nil)
        #expect(Self.admin.refusal(command: "commands", token: "read-token-0123456789abcdef") == nil)
        #expect(Self.admin.refusal(command: "drain", token: "read-token-0123456789abcdef")?.contains("write token") == true)
        #expect(Self.admin.refusal(command: "drain", token: "write-token-0123456789abcdef") == nil)
        #expect(Self.admin.refusal(command: "status", token: "write-token-0123456789abcdef") == nil)
        #expect(Self.admin.refusal(command: "drain", token: "guess-0123456789abcdef-guess") == "invalid admin token")
    }

    @Test func badAdminTokenFilesAreRefused() {
        #expect(throws: CredentialError.self) { try AdminCredentials(parsing: "", file: "a") }
        #expect(throws: CredentialError.self) { try AdminCredentials(parsing: "read short", file: "a") }
        #expect(throws: CredentialError.self) { try AdminCredentials(parsing: "admin read-token-0123456789abcdef", file: "a") }
        #expect(throws: CredentialError.self) { try AdminCredentials(parsing: "read same-token-0123456789abcdef\nwrite same-token-0123456789abcdef", file: "a") }
    }

    @Test func tokenFilesHoldOneLongToken() throws {
        #expect(try Credentials.token(fromFile: "  a-long-enough-token-0123\n", name: "t") == "a-long-enough-token-0123")
        #expect(throws: CredentialError.self) { try Credentials.token(fromFile: "short\n", name: "t") }
        #expect(throws: CredentialError.self) { try Credentials.token(fromFile: "a-long-enough-token-0123\nanother-long-token-0123", name: "t") }
    }
}

/// Binary batches as producers write them.
enum IngestBodyForTests {
    static func binary(_ items: [Item]) -> [UInt8] {
        var encoder = BinaryBatchEncoder(producer: nil, seq: nil, capacity: 64)
        encoder.append(contentsOf: items)
        return encoder.finish()
    }
}
