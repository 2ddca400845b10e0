/// A producer's credential around an ingest request (docs/protocol.md, "Credentials"):
///
/// | field   | size | value                                     |
/// |---------|------|-------------------------------------------|
/// | magic   | 3    | `0xFE 'T' 'A'`                            |
/// | version | 1    | `1`                                       |
/// | token   | 2+n  | u16 length (1 to 1024), the token's bytes |
/// | request | …    | the request: JSON or a binary batch       |
///
/// The request inside is any request the coordinator reads without a credential, so every
/// existing format stays valid and a credential works with both. A coordinator without
/// `--producers-file` takes the request inside and ignores the token.
public enum IngestCredential {
    static let magic: [UInt8] = [0xFE, 0x54, 0x41]
    public static let version: UInt8 = 1
    public static let maximumTokenBytes = 1024

    /// `body` wrapped with `token`, or `body` itself without one.
    public static func wrap(_ body: [UInt8], token: String?) -> [UInt8] {
        guard let token, !token.isEmpty else { return body }
        let bytes = Array(token.utf8.prefix(maximumTokenBytes))
        var out: [UInt8] = []
        out.reserveCapacity(body.count + bytes.count + 6)
        out += magic
        out.append(version)
        out.append(UInt8(bytes.count & 0xFF))
        out.append(UInt8(bytes.count >> 8))
        out += bytes
        out += body
        return out
    }

    /// Whether `bytes` start with a credential frame's magic.
    public static func isWrapped(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == magic[0] && bytes[1] == magic[1] && bytes[2] == magic[2]
    }

    /// The token and the request inside (token nil: no credential frame, `bytes` is the
    /// request); a malformed frame is an ``IngestError`` (`invalid`).
    public static func unwrap(_ bytes: [UInt8]) -> Result<(token: [UInt8]?, body: [UInt8]), IngestError> {
        guard isWrapped(bytes) else { return .success((nil, bytes)) }
        guard bytes.count >= 6 else { return .failure(IngestError("truncated credential frame", offset: bytes.count)) }
        guard bytes[3] == version else {
            return .failure(IngestError("unsupported credential frame version \(bytes[3]) (this build speaks \(version))", offset: 3))
        }
        let length = Int(bytes[4]) | Int(bytes[5]) << 8
        guard (1...maximumTokenBytes).contains(length) else {
            return .failure(IngestError("credential token of \(length) bytes (1 to \(maximumTokenBytes))", offset: 4))
        }
        guard bytes.count >= 6 + length else { return .failure(IngestError("truncated credential token", offset: bytes.count)) }
        return .success((Array(bytes[6..<(6 + length)]), Array(bytes[(6 + length)...])))
    }
}
