import ArgumentParser
import CoordinatorCore
import Foundation
import NNG
import ThermoshardClient

/// `--tls-cert`, `--tls-key`, `--tls-ca`: every process has them, and uses them for every
/// `tls+tcp://` address it listens on or dials (docs/security.md).
struct TLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("This process's certificate (PEM), for every tls+tcp:// address it listens on or dials (a worker's is checked against the coordinator's --tls-ca).", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key (PEM, unencrypted) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("The CA certificate(s) (PEM) that sign the peers' certificates: the server's for a dialer; the workers' and subscribers' for the coordinator.", valueName: "file"))
    var tlsCa: String?

    var isEmpty: Bool { tlsCert == nil && tlsKey == nil && tlsCa == nil }

    /// The files read and checked (nil when none is given); throws a usage error that names
    /// the flag and the file. `listening` and `dialing` are this process's addresses, to check
    /// that each `tls+tcp://` one has what it needs.
    func load(listening: [(flag: String, url: String)] = [], dialing: [(flag: String, url: String)] = [], clientCertificates: Set<String> = []) throws -> TLSConfiguration? {
        let tlsListen = listening.filter { TLSConfiguration.isTLS($0.url) }
        let tlsDial = dialing.filter { TLSConfiguration.isTLS($0.url) }
        if let (flag, url) = tlsListen.first, tlsCert == nil || tlsKey == nil {
            throw ValidationError("\(flag) \(url) listens with TLS: it needs --tls-cert and --tls-key")
        }
        if let (flag, url) = tlsListen.first(where: { clientCertificates.contains($0.flag) }), tlsCa == nil {
            throw ValidationError("\(flag) \(url) requires client certificates (mutual TLS): it needs --tls-ca, the CA that signs them")
        }
        if let (flag, url) = tlsDial.first, tlsCa == nil {
            throw ValidationError("\(flag) \(url) dials with TLS: it needs --tls-ca, the CA that signs the coordinator's certificate")
        }
        guard !isEmpty else { return nil }
        do {
            return try TLSConfiguration(certificateFile: tlsCert, keyFile: tlsKey, caFile: tlsCa).load()
        } catch {
            throw ValidationError("TLS: \(error)")
        }
    }
}

/// Reading the credential files (tokens, producers, admin tokens), with errors that name the
/// flag and the file.
enum CredentialFiles {
    static func text(_ path: String, flag: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(flag) \(path): no such file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(flag) \(path): cannot be read (permissions?)") }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(flag) \(path): not UTF-8 text") }
        return text
    }

    /// The one token of a `--token-file`.
    static func token(_ path: String?, flag: String = "--token-file") throws -> String? {
        guard let path else { return nil }
        do {
            return try Credentials.token(fromFile: try text(path, flag: flag), name: "\(flag) \(path)")
        } catch let error as CredentialError {
            throw ValidationError(error.description)
        }
    }

    static func producers(_ path: String?) throws -> ProducerCredentials? {
        guard let path else { return nil }
        do {
            return try ProducerCredentials(parsing: try text(path, flag: "--producers-file"), file: "--producers-file \(path)")
        } catch let error as CredentialError {
            throw ValidationError(error.description)
        }
    }

    static func admin(_ path: String?) throws -> AdminCredentials? {
        guard let path else { return nil }
        do {
            return try AdminCredentials(parsing: try text(path, flag: "--admin-token-file"), file: "--admin-token-file \(path)")
        } catch let error as CredentialError {
            throw ValidationError(error.description)
        }
    }
}

/// What a client subcommand sends its requests with: TLS for `tls+tcp://` addresses and its
/// credential (`--token-file`: a producer's token for ingest, an operator's for admin).
struct ClientSecurityOptions: ParsableArguments {
    @OptionGroup var tls: TLSOptions

    @Option(help: ArgumentHelp("A file holding this client's token: a producer's (from the coordinator's --producers-file) for ingest, the read or write token (from its --admin-token-file) for admin calls.", valueName: "file"))
    var tokenFile: String?

    /// `endpoint` with TLS (if `url` is tls+tcp://) and the token.
    func endpoint(url: String, flag: String, connectTimeout: DurationArgument) throws -> Endpoint {
        let tls = try self.tls.load(dialing: [(flag, url)])
        return Endpoint(url: url, flag: flag, connectTimeout: connectTimeout.duration, tls: tls, token: try CredentialFiles.token(tokenFile))
    }
}

/// The fail-closed rule (docs/security.md): a process that other hosts can reach must protect
/// what they can reach, or say `--insecure`.
enum Exposure {
    /// Whether `url` reaches beyond this host: a tcp or tls address whose host is not loopback
    /// (`127.0.0.0/8`, `::1`, `localhost`). ipc:// and inproc:// stay on the host.
    static func isExposed(_ url: String) -> Bool {
        let scheme = url.prefix { $0 != ":" }.lowercased()
        guard scheme.hasPrefix("tcp") || scheme.hasPrefix("tls") || scheme.hasPrefix("ws") else { return false }
        guard let host = TLSConfiguration.host(of: url)?.lowercased() else { return true }
        return !(host == "localhost" || host.hasPrefix("127.") || host == "::1")
    }

    /// Refuses to start (a usage error naming every unprotected address and what would protect
    /// it) unless `insecure`.
    static func check(_ problems: [String], insecure: Bool) throws {
        guard !problems.isEmpty, !insecure else { return }
        throw ValidationError("refusing to start: " + problems.joined(separator: "; ")
            + ". Protect them (docs/security.md), listen on loopback, or pass --insecure to run without (anyone who reaches these ports can then use them)")
    }
}
