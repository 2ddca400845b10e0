import CCRC32C

/// Little-endian byte writing and reading for the binary formats (ingest batches, cluster
/// frames, checkpoints, the journal and the command log). Reads without copying.
///
/// The writer stores each value straight into spare room of its buffer (grown by doubling),
/// without a bounds-checked append per byte: it encodes every item and command on the data
/// path, where `Array.append(contentsOf:)` per field was the coordinator's largest cost in
/// user space. ``finish()`` hands the buffer over without a copy.
public struct ByteWriter: Sendable {
    /// `storage[0..<count]` is written; the rest is zero-filled room.
    private var storage: [UInt8]
    public private(set) var count: Int

    public init(capacity: Int = 256) {
        storage = [UInt8](repeating: 0, count: Swift.max(capacity, 16))
        count = 0
    }

    /// The bytes written (a copy, unless the capacity was exactly what was written).
    public var bytes: [UInt8] {
        count == storage.count ? storage : Array(storage[..<count])
    }

    /// The bytes written, without a copy.
    public consuming func finish() -> [UInt8] {
        storage.removeLast(storage.count - count)
        return storage
    }

    /// Calls `body` with the bytes written so far.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }

    /// The CRC-32C of the bytes from `start` to the end.
    public func checksum(from start: Int) -> UInt32 {
        withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
    }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if count + extra > storage.count { grow(extra) }
    }

    @inline(never)
    private mutating func grow(_ extra: Int) {
        let size = Swift.max(storage.count * 2, count + extra)
        storage.append(contentsOf: repeatElement(0, count: size - storage.count))
    }

    public mutating func write(_ value: UInt8) { writeLE(value) }
    public mutating func write(_ value: UInt16) { writeLE(value) }
    public mutating func write(_ value: UInt32) { writeLE(value) }
    public mutating func write(_ value: UInt64) { writeLE(value) }
    public mutating func write(_ value: Double) { writeLE(value.bitPattern) }
    public mutating func write(_ value: Bool) { writeLE(UInt8(value ? 1 : 0)) }

    @inline(__always)
    public mutating func writeLE<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        reserve(size)
        let at = count
        storage.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: at, as: T.self) }
        count = at + size
    }

    public mutating func write(bytes other: UnsafeRawBufferPointer) {
        guard let base = other.baseAddress, !other.isEmpty else { return }
        reserve(other.count)
        let at = count
        storage.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: at).copyMemory(from: base, byteCount: other.count) }
        count = at + other.count
    }

    public mutating func write(bytes other: some Sequence<UInt8>) {
        let done: Void? = other.withContiguousStorageIfAvailable { write(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for byte in other { write(byte) } }
    }

    /// A string as a 16-bit length and its UTF-8 bytes (truncated to 65535 bytes).
    public mutating func write(string: String) {
        let utf8 = Array(string.utf8.prefix(Int(UInt16.max)))
        write(UInt16(utf8.count))
        write(bytes: utf8)
    }

    /// A byte blob as a 32-bit length and its bytes.
    public mutating func write(blob: [UInt8]) {
        write(UInt32(blob.count))
        write(bytes: blob)
    }

    /// Overwrites a 32-bit value written earlier (for counts known only at the end).
    public mutating func patch(_ value: UInt32, at index: Int) {
        precondition(index >= 0 && index + 4 <= count, "patch outside what was written")
        storage.withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: index, as: UInt32.self) }
    }
}

/// Why bytes could not be read.
public struct DecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static func truncated(_ what: String) -> DecodeError { DecodeError("truncated \(what)") }
}

/// Reads little-endian values from a byte array, with bounds checks that throw.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var position: Int

    public init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    public var remaining: Int { bytes.count - position }
    public var isAtEnd: Bool { position >= bytes.count }


    public mutating func readLE<T: FixedWidthInteger>(_: T.Type = T.self) throws(DecodeError) -> T {
        let size = MemoryLayout<T>.size
        guard bytes.count - position >= size else { throw DecodeError("truncated message") }
        var value: T = 0
        bytes.withUnsafeBytes { raw in
            value = T(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: T.self))
        }
        position += size
        return value
    }

    public mutating func read(_: UInt8.Type = UInt8.self) throws(DecodeError) -> UInt8 { try readLE() }
    public mutating func read(_: UInt16.Type = UInt16.self) throws(DecodeError) -> UInt16 { try readLE() }
    public mutating func read(_: UInt32.Type = UInt32.self) throws(DecodeError) -> UInt32 { try readLE() }
    public mutating func read(_: UInt64.Type = UInt64.self) throws(DecodeError) -> UInt64 { try readLE() }
    public mutating func read(_: Double.Type = Double.self) throws(DecodeError) -> Double {
        Double(bitPattern: try readLE(UInt64.self))
    }
    public mutating func read(_: Bool.Type = Bool.self) throws(DecodeError) -> Bool {
        switch try readLE(UInt8.self) {
        case 0: return false
        case 1: return true
        default: throw DecodeError("invalid boolean")
        }
    }

    public mutating func readString() throws(DecodeError) -> String {
        let length = Int(try read(UInt16.self))
        guard remaining >= length else { throw DecodeError("truncated string") }
        defer { position += length }
        return String(decoding: bytes[position..<position + length], as: UTF8.self)
    }

    public mutating func readBlob(limit: Int = Int(UInt32.max)) throws(DecodeError) -> [UInt8] {
        let length = Int(try read(UInt32.self))
        guard length <= limit else { throw DecodeError("blob of \(length) bytes exceeds \(limit)") }
        guard remaining >= length else { throw DecodeError("truncated blob") }
        defer { position += length }
        return Array(bytes[position..<position + length])
    }

    /// Reads a count and checks that at least `count * minimumSize` bytes follow, so that a
    /// forged count cannot make the reader reserve memory the message does not back.
    public mutating func readCount(minimumElementSize: Int) throws(DecodeError) -> Int {
        let count = Int(try read(UInt32.self))
        guard count <= remaining / max(1, minimumElementSize) else {
            throw DecodeError("count \(count) exceeds the message")
        }
        return count
    }
}

/// CRC-32C (Castagnoli), for checksums on disk and in checkpoints. Slicing-by-8: eight table
/// lookups per 8 bytes, over raw memory (about 1-2 GB/s; the journal and command log are
/// checked at this speed on every start).
public enum CRC32C {
    /// Eight 256-entry tables end to end: entry `256 * k + b` is the CRC of byte `b` followed
    /// by `k` zero bytes.
    static let flat: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            table[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = table[256 * (k - 1) + i]
                table[256 * k + i] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        return table
    }()

    /// Whether the CPU's CRC-32C instruction is used (x86-64 with SSE 4.2; CCRC32C), about four
    /// times as fast as the tables.
    public static let hardware = thermoshard_crc32c_available() == 1

    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard hardware, let base = bytes.baseAddress else { return tableChecksum(bytes, seed: seed) }
        return ~thermoshard_crc32c_update(~seed, base, bytes.count)
    }

    /// The same CRC from the tables, eight bytes a step (slicing-by-8): where the CPU has no
    /// instruction for it, and in tests as the reference.
    public static func tableChecksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        flat.withUnsafeBufferPointer { t in
            var i = 0
            let n = bytes.count
            while i + 8 <= n {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ UInt64(crc)
                crc = t[7 * 256 + Int(word & 0xFF)] ^ t[6 * 256 + Int((word >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((word >> 16) & 0xFF)] ^ t[4 * 256 + Int((word >> 24) & 0xFF)]
                    ^ t[3 * 256 + Int((word >> 32) & 0xFF)] ^ t[2 * 256 + Int((word >> 40) & 0xFF)]
                    ^ t[1 * 256 + Int((word >> 48) & 0xFF)] ^ t[Int(word >> 56)]
                i += 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(bytes[i])) & 0xFF)] ^ (crc >> 8)
                i += 1
            }
        }
        return ~crc
    }

    public static func checksum(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, seed: seed) }
    }

    public static func checksum(_ bytes: ArraySlice<UInt8>, seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, seed: seed) }
    }
}
