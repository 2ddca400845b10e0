import Foundation
import NNG
import Testing

/// ``TLSConfiguration``: files checked at load, and a `tls+tcp://` exchange with mutual TLS, a
/// client refused for a certificate of another CA. Certificates are made by openssl in a
/// temporary directory (skipped where openssl is missing).
@Suite("TLS: configuration and tls+tcp:// with mutual TLS", .timeLimit(.minutes(1)))
struct TLSConfigurationTests {
    typealias Kit = NNGTestKit

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, in a fresh directory.
    static func makeCertificates(_ name: String) throws -> URL? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nng-tls-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let script = """
            set -e
            cd "$1"
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
            key ca.key
            openssl req -x509 -new -key ca.key -days 2 -subj /CN=ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out ca.pem
            for n in server client; do
              key $n.key
              openssl req -new -key $n.key -subj /CN=$n -out $n.csr
              if [ $n = server ]; then printf 'extendedKeyUsage=serverAuth\\nsubjectAltName=DNS:127.0.0.1,IP:127.0.0.1\\n' > $n.ext
              else printf 'extendedKeyUsage=clientAuth\\n' > $n.ext; fi
              openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile $n.ext -out $n.pem
            done
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script, "certs", dir.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl made the certificates")
        return dir
    }

    static func tls(_ dir: URL, _ own: String?, ca: URL? = nil, mode: TLSConfiguration.AuthMode = .required) throws -> TLSConfiguration {
        try TLSConfiguration(certificateFile: own.map { dir.appendingPathComponent("\($0).pem").path },
                             keyFile: own.map { dir.appendingPathComponent("\($0).key").path },
                             caFile: (ca ?? dir).appendingPathComponent("ca.pem").path, authMode: mode).load()
    }

    /// A tls+tcp:// listener on a free loopback port.
    static func listen(_ socket: Socket, _ tls: TLSConfiguration) throws -> String {
        for _ in 0 ..< 100 {
            let url = "tls+tcp://127.0.0.1:\(Int.random(in: Kit.portRange))"
            do {
                try socket.listen(url, tls: tls)
                return url
            } catch {
                guard error == .nng(.addressInUse) else { throw error }
            }
        }
        throw NNGError.addressInUse
    }

    @Test func missingAndInvalidFilesAreRefusedAtLoad() throws {
        #expect(throws: TLSError.self) { try TLSConfiguration(certificateFile: "/nonexistent.pem", keyFile: "/nonexistent.key").load() }
        #expect(throws: TLSError.self) { try TLSConfiguration(certificateFile: "/etc/hostname", keyFile: nil).load() }
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID().uuidString).pem")
        try "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n".write(to: garbage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: garbage) }
        do {
            _ = try TLSConfiguration(caFile: garbage.path).load()
            Issue.record("a PEM block that is no certificate is refused")
        } catch {
            #expect(error.description.contains(garbage.path))
        }
    }

    @Test func mutualTLSExchangesAndRefusesAnotherCA() async throws {
        guard let dir = try Self.makeCertificates("mutual"), let other = try Self.makeCertificates("other") else { return }
        defer {
            try? FileManager.default.removeItem(at: dir)
            try? FileManager.default.removeItem(at: other)
        }
        let rep = try Socket(.rep)
        let url = try Self.listen(rep, try Self.tls(dir, "server"))
        let req = try Socket(.req)
        try req.dial(url, tls: try Self.tls(dir, "client"))
        try await req.send(Kit.utf8("over tls"), timeout: Kit.patience)
        let request = try await rep.receive(timeout: Kit.patience)
        #expect(request.bytes == Kit.utf8("over tls"))
        try await rep.send(Kit.utf8("yes"), timeout: Kit.patience)
        #expect(try await req.receive(timeout: Kit.patience).bytes == Kit.utf8("yes"))

        // A client whose certificate another CA signed gets no connection: its request times out.
        let rogue = try Socket(.req)
        try rogue.dial(url, tls: try Self.tls(other, "client", ca: dir))
        await #expect(throws: NNGError.timedOut) {
            try await rogue.send(Kit.utf8("let me in"), timeout: .seconds(1))
            _ = try await rogue.receive(timeout: .seconds(1))
        }
        // And plain TCP on the TLS port neither.
        let plain = try Socket(.req)
        try plain.dial(url.replacingOccurrences(of: "tls+tcp://", with: "tcp://"))
        await #expect(throws: NNGError.timedOut) {
            try await plain.send(Kit.utf8("plain"), timeout: .seconds(1))
            _ = try await plain.receive(timeout: .seconds(1))
        }
        #expect(rep.connectionStats.open == 1, "only the certified client has a pipe")
        for socket in [plain, rogue, req, rep] { await socket.close() }
    }
}
