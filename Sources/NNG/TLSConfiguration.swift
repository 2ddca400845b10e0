import CNNG
import Foundation

/// TLS for a socket's `tls+tcp://` listeners and dialers: this side's certificate and key, the
/// CA that peers' certificates must be signed by, the name the server's certificate must carry,
/// and whether the peer must present a certificate.
///
/// A value, read from files once (``load()``) so that a missing, unreadable or invalid file is
/// an error at start-up and not a silent handshake failure later. Apply it with
/// ``Socket/listen(_:tls:)`` and ``Socket/dial(_:tls:)``: each builds an `nng_tls_config`, sets it on the
/// listener or dialer (nng holds its own reference, `nng_tls_config_hold`) and frees its own.
/// Addresses other than `tls+tcp://` ignore it.
public struct TLSConfiguration: Sendable, Hashable {
    /// How the peer's certificate is checked (`nng_tls_config_auth_mode`).
    public enum AuthMode: Sendable, Hashable {
        /// Not asked for (a server that lets any client in; the client side of plain encryption).
        case none
        /// Checked if presented (mbedTLS lets the handshake go on even if it fails: not access control).
        case optional
        /// Required and checked against the CA; the handshake fails without a valid one.
        case required
    }

    /// PEM files: this side's certificate (chain) and its private key; the CA certificate(s).
    public var certificateFile: String?
    public var keyFile: String?
    public var caFile: String?
    /// The name the server's certificate must carry (a dialer); nil: the host of the address.
    public var serverName: String?
    public var authMode: AuthMode

    /// The PEM texts, once ``load()`` has read them.
    var certificatePEM: String?
    var keyPEM: String?
    var caPEM: String?

    public init(certificateFile: String? = nil, keyFile: String? = nil, caFile: String? = nil, serverName: String? = nil, authMode: AuthMode = .required) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.serverName = serverName
        self.authMode = authMode
    }

    /// A copy with another auth mode (one set of files serves listeners that differ in it).
    public func with(authMode: AuthMode) -> TLSConfiguration {
        var copy = self
        copy.authMode = authMode
        return copy
    }

    /// A copy with another server name.
    public func with(serverName: String?) -> TLSConfiguration {
        var copy = self
        copy.serverName = serverName
        return copy
    }

    public var hasOwnCertificate: Bool { certificateFile != nil && keyFile != nil }

    /// Reads the files and checks that nng (mbedTLS) accepts them, as a server and as a client;
    /// throws a ``TLSError`` that names the file and the problem.
    public func load() throws(TLSError) -> TLSConfiguration {
        var loaded = self
        if (certificateFile == nil) != (keyFile == nil) {
            throw TLSError("a certificate needs its key and a key its certificate (--tls-cert and --tls-key go together)")
        }
        loaded.certificatePEM = try Self.read(certificateFile, what: "certificate", marker: "CERTIFICATE")
        loaded.keyPEM = try Self.read(keyFile, what: "key", marker: "PRIVATE KEY")
        loaded.caPEM = try Self.read(caFile, what: "CA certificate", marker: "CERTIFICATE")
        // Let mbedTLS parse them now: a file that is PEM but not a certificate or key fails here.
        if loaded.certificatePEM != nil {
            _ = try loaded.with(authMode: loaded.caPEM == nil ? .none : .required).make(server: true)
        }
        if loaded.caPEM != nil {
            _ = try loaded.with(authMode: .required).make(server: false)
        }
        return loaded
    }

    private static func read(_ path: String?, what: String, marker: String) throws(TLSError) -> String? {
        guard let path else { return nil }
        guard FileManager.default.fileExists(atPath: path) else { throw TLSError("\(what) file \(path) does not exist") }
        guard let data = FileManager.default.contents(atPath: path) else { throw TLSError("\(what) file \(path) cannot be read (permissions?)") }
        guard let text = String(data: data, encoding: .utf8), text.contains("-----BEGIN "), text.contains(marker) else {
            throw TLSError("\(what) file \(path) is not a PEM \(what) (expected a '-----BEGIN ...\(marker)-----' block)")
        }
        return text
    }

    /// An owned `nng_tls_config` for a listener (`server`) or a dialer.
    func make(server: Bool, host: String? = nil) throws(TLSError) -> TLSConfigHandle {
        var pointer: OpaquePointer?
        let side = server ? "server" : "client"
        guard nng_tls_config_alloc(&pointer, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT) == 0, let pointer else {
            throw TLSError("cannot allocate a TLS configuration (is libnng built with TLS?)")
        }
        let handle = TLSConfigHandle(pointer)
        func check(_ rv: Int32, _ problem: @autoclosure () -> String) throws(TLSError) {
            if rv != 0 { throw TLSError("\(problem()): \(NNGError(code: rv))") }
        }
        if let certificatePEM, let keyPEM {
            try check(nng_tls_config_own_cert(pointer, certificatePEM, keyPEM, nil),
                      "the certificate \(certificateFile ?? "") or key \(keyFile ?? "") is not valid (or the key is encrypted)")
        } else if server {
            throw TLSError("listening on tls+tcp:// needs a certificate and key (--tls-cert, --tls-key)")
        }
        if let caPEM {
            try check(nng_tls_config_ca_chain(pointer, caPEM, nil), "the CA file \(caFile ?? "") holds no valid certificate")
        } else if authMode != .none {
            throw TLSError(server
                ? "requiring client certificates needs the CA that signs them (--tls-ca)"
                : "checking the server's certificate needs the CA that signs it (--tls-ca)")
        }
        let mode: nng_tls_auth_mode = switch authMode {
        case .none: NNG_TLS_AUTH_MODE_NONE
        case .optional: NNG_TLS_AUTH_MODE_OPTIONAL
        case .required: NNG_TLS_AUTH_MODE_REQUIRED
        }
        try check(nng_tls_config_auth_mode(pointer, mode), "cannot set the \(side) TLS auth mode")
        if !server, let name = serverName ?? host, !name.isEmpty {
            try check(nng_tls_config_server_name(pointer, name), "cannot set the TLS server name \(name)")
        }
        return handle
    }

    /// Whether nng's address uses TLS (`tls+tcp://`, `tls+tcp4://`, `tls+tcp6://`, `wss://`).
    public static func isTLS(_ url: String) -> Bool {
        let scheme = url.prefix { $0 != ":" }.lowercased()
        return scheme.hasPrefix("tls+") || scheme.hasPrefix("wss")
    }

    /// The host of a `scheme://HOST:PORT` address (without brackets), for the server name.
    public static func host(of url: String) -> String? {
        guard let range = url.range(of: "://") else { return nil }
        var rest = url[range.upperBound...]
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close])
        }
        guard let colon = rest.lastIndex(of: ":") else { return String(rest) }
        return String(rest[..<colon])
    }
}

/// An `nng_tls_config` this code holds one reference to, dropped (`nng_tls_config_free`) when
/// the handle goes; a listener or dialer it was set on keeps its own (`nng_tls_config_hold`).
final class TLSConfigHandle {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { nng_tls_config_free(pointer) }
}

/// A TLS configuration that cannot be used: a file missing, unreadable, not PEM or refused by
/// mbedTLS, or a listener without a certificate.
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
