// The JSON writer of the public protocols (the reader and the value types are in JSON.swift).

let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

func hex2(_ byte: UInt8) -> String {
    String(decoding: [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]], as: UTF8.self)
}

/// A name for an error message: escaped like JSON and cut to 64 bytes.
func escapedForMessage(_ text: String) -> String {
    var writer = JSONWriter(capacity: 72)
    writer.value(String(decoding: text.utf8.prefix(64), as: UTF8.self))
    var bytes = writer.bytes
    bytes.removeFirst()
    bytes.removeLast()
    return String(decoding: bytes, as: UTF8.self) + (text.utf8.count > 64 ? "..." : "")
}

/// Appends JSON text to a byte array: objects, arrays, strings (escaped), integers, doubles,
/// booleans and null. Commas are placed automatically; the caller supplies a well-formed
/// sequence (a ``key(_:)`` before each value inside an object).
///
/// ```swift
/// var json = JSONWriter()
/// json.beginObject()
/// json.key("accepted"); json.value(2)
/// json.endObject()          // {"accepted":2}
/// ```
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8]
    /// A value or a closing bracket was written last: the next element needs a comma.
    private var needsComma = false

    public init(capacity: Int = 128) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Continues after bytes that were written already (e.g. the feed's `"17 "` prefix).
    public init(appendingTo bytes: [UInt8]) {
        self.bytes = bytes
    }

    private mutating func separate() {
        if needsComma { bytes.append(ASCII.comma) }
    }

    public mutating func beginObject() {
        separate()
        bytes.append(ASCII.openBrace)
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(ASCII.closeBrace)
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        bytes.append(ASCII.openBracket)
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(ASCII.closeBracket)
        needsComma = true
    }

    /// A member name inside an object; the value written next belongs to it.
    public mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(ASCII.colon)
        needsComma = false
    }

    public mutating func value(_ string: String) {
        separate()
        appendString(string)
        needsComma = true
    }

    /// An integer, in decimal.
    public mutating func value(_ number: some BinaryInteger) {
        separate()
        appendInteger(number)
        needsComma = true
    }

    /// A double as Swift's shortest round-tripping `description` (`21.4`, `1e-05`); JSON has
    /// no infinities or NaN, so a non-finite value is written as `null`.
    public mutating func value(_ number: Double) {
        separate()
        if number.isFinite {
            bytes.append(contentsOf: number.description.utf8)
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
        needsComma = true
    }

    public mutating func value(_ flag: Bool) {
        separate()
        bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        needsComma = true
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    /// A parsed value, written compactly (numbers keep their literal text).
    public mutating func value(_ json: JSONValue) {
        switch json {
        case .null: null()
        case .bool(let flag): value(flag)
        case .number(let number):
            separate()
            bytes.append(contentsOf: number.text.utf8)
            needsComma = true
        case .string(let string): value(string)
        case .array(let elements):
            beginArray()
            for element in elements { value(element) }
            endArray()
        case .object(let members):
            beginObject()
            for (name, member) in members {
                key(name)
                value(member)
            }
            endObject()
        }
    }

    private mutating func appendInteger(_ number: some BinaryInteger) {
        if let small = UInt64(exactly: number) {
            appendDecimal(small, to: &bytes)
        } else if let negative = Int64(exactly: number) {
            bytes.append(ASCII.minus)
            appendDecimal(negative.magnitude, to: &bytes)
        } else {
            bytes.append(contentsOf: String(number).utf8)
        }
    }

    private mutating func appendString(_ string: String) {
        bytes.append(ASCII.quote)
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            for (i, byte) in utf8.enumerated() where byte < 0x20 || byte == ASCII.quote || byte == ASCII.backslash {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                runStart = i + 1
                bytes.append(ASCII.backslash)
                switch byte {
                case ASCII.quote, ASCII.backslash: bytes.append(byte)
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "u"), ASCII.zero, ASCII.zero, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(ASCII.quote)
    }
}

/// Appends `value` in decimal ASCII: the JSON writer's integers and the command log's text and
/// NDJSON lines, written without a `String` per number.
func appendDecimal(_ value: UInt64, to bytes: inout [UInt8]) {
    if value < 10 {
        bytes.append(ASCII.zero + UInt8(value))
        return
    }
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
    withUnsafeMutableBytes(of: &digits) { buffer in
        var remaining = value
        var index = buffer.count
        while remaining > 0 {
            index -= 1
            buffer[index] = ASCII.zero + UInt8(remaining % 10)
            remaining /= 10
        }
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index...]))
    }
}
