import Wire

/// The framing of every variable-length record on disk: a little-endian u32 payload length, a
/// u32 CRC-32C of the payload, then the payload. A reader stops at the first frame that is cut
/// short or fails its checksum: that is where a crash tore the file.
enum RecordFraming {
    static let headerSize = 8
    /// No record is larger; a length beyond it is corruption.
    static let maximumPayload = 256 << 20

    /// Appends a framed record whose payload, `length` bytes, `build` writes into `writer`.
    /// A payload past ``maximumPayload`` (which the reader would take for corruption) is
    /// refused before anything is written.
    static func append(to writer: inout ByteWriter, length: Int, _ build: (inout ByteWriter) -> Void) throws(StorageError) {
        guard length <= maximumPayload else {
            throw StorageError("a record of \(length) bytes exceeds the limit of \(maximumPayload) bytes per record; not written")
        }
        let start = writer.count
        writer.write(UInt32(0))
        writer.write(UInt32(0))
        build(&writer)
        let written = writer.count - start - headerSize
        assert(written == length, "record length \(written) differs from the computed \(length)")
        let checksum = writer.checksum(from: start + headerSize)
        writer.patch(UInt32(written), at: start)
        writer.patch(checksum, at: start + 4)
    }

    /// The outcome of reading a file's records.
    struct Scan {
        /// Each intact record's payload range in the buffer, in order.
        var records: [Range<Int>] = []
        /// Bytes up to the end of the last intact record.
        var validLength = 0
        /// Why reading stopped before the end, if it did.
        var damage: String?
    }

    static func scan(_ bytes: [UInt8], from start: Int = 0) -> Scan {
        var scan = Scan(validLength: start)
        var position = start
        while position < bytes.count {
            guard bytes.count - position >= headerSize else {
                scan.damage = "a record header cut short at byte \(position)"
                break
            }
            let length = Int(load(bytes, position))
            let stored = load(bytes, position + 4)
            let payload = position + headerSize
            guard length <= maximumPayload, bytes.count - payload >= length else {
                scan.damage = "a record cut short at byte \(position)"
                break
            }
            guard CRC32C.checksum(bytes[payload..<(payload + length)]) == stored else {
                scan.damage = "a record failing its checksum at byte \(position)"
                break
            }
            scan.records.append(payload..<(payload + length))
            position = payload + length
            scan.validLength = position
        }
        return scan
    }

    static func load(_ bytes: [UInt8], _ position: Int) -> UInt32 {
        UInt32(bytes[position]) | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2]) << 16 | UInt32(bytes[position + 3]) << 24
    }
}
