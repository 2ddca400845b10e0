// A small, strict JSON (RFC 8259) reader over bytes, for the public protocols (the writer is
// in JSONWriter.swift).
//
// The reader refuses everything RFC 8259 refuses (trailing commas, leading zeros, single quotes,
// comments, unescaped control characters, invalid UTF-8, lone surrogates, trailing garbage) and,
// on top, duplicate member names and nesting deeper than a limit. The parser does not recurse:
// nesting is tracked on an explicit stack, and input deeper than the limit is refused before
// any deep value exists. (Keep the limit small all the same: a ``JSONValue`` is a tree, and
// Swift releases, compares and writes trees recursively.)
// Errors carry the byte offset where the problem was found.
//
// Over 400 lines on purpose: the reader is one non-recursive state machine (`JSONReader`) whose
// states share one stack and one cursor; split across files it would only be harder to follow.

/// A parsed JSON value.
///
/// Numbers keep their literal text (``JSONNumber``) so that integers are read exactly (sensor
/// IDs are 64-bit) and doubles are rounded once. Objects keep their members in document order;
/// the parser guarantees their names are unique.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The value of an object's member, or nil (no such member, or not an object).
    public subscript(member name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.0 == name })?.1
    }

    /// "null", "a boolean", "a number", "a string", "an array" or "an object", for messages.
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A JSON number as written in the document (it matched RFC 8259's number grammar).
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The literal text, e.g. `-12`, `21.4`, `1e999`.
    public let text: String
    /// Written without fraction and exponent (it may still be negative or too large).
    public let isInteger: Bool

    init(validated text: String, isInteger: Bool) {
        self.text = text
        self.isInteger = isInteger
    }

    public var description: String { text }

    public var isNegative: Bool { text.utf8.first == UInt8(ascii: "-") }

    /// The exact value when it is an integer in 0...UInt64.max written without sign, fraction or
    /// exponent; otherwise nil.
    public var uint64: UInt64? { isInteger && !isNegative ? UInt64(text) : nil }

    /// The exact value when it is an integer within Int64 written without fraction or exponent.
    public var int64: Int64? { isInteger ? Int64(text) : nil }

    /// The nearest double. Magnitudes beyond the double range give ±infinity (`1e999`), so
    /// callers that need finite values must check.
    public var double: Double { Double(text) ?? .nan }
}

/// Why a document is not acceptable JSON, and where: `expected ',' or '}' at byte 17`.
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Not RFC 8259 JSON, or a duplicate member name.
        case syntax
        /// Deeper than the nesting limit.
        case depthLimit
        /// An array or object with more elements than the limit.
        case sizeLimit
    }

    /// The offset, from the start of the document, of the byte where the problem was found.
    public let offset: Int
    public let reason: String
    public let kind: Kind

    public init(offset: Int, reason: String, kind: Kind = .syntax) {
        self.offset = offset
        self.reason = reason
        self.kind = kind
    }

    public var description: String { "\(reason) at byte \(offset)" }
}

/// The JSON reader: `JSONParser.parse(bytes)` gives a ``JSONValue`` or throws a ``JSONError``.
public enum JSONParser {
    /// The nesting limit unless told otherwise: 16 nested arrays/objects are accepted, 17 refused.
    public static let defaultMaxDepth = 16

    /// Parses one JSON document (surrounding whitespace allowed, nothing else).
    /// - Parameters:
    ///   - maxDepth: the most arrays/objects that may be nested inside each other.
    ///   - maxElements: the most elements (or members) one array (or object) may have.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth, maxElements: Int = .max
    ) throws(JSONError) -> JSONValue {
        var reader = JSONReader(bytes: bytes, maxDepth: maxDepth, maxElements: maxElements)
        return try reader.document()
    }

    public static func parse(
        _ bytes: [UInt8], maxDepth: Int = defaultMaxDepth, maxElements: Int = .max
    ) throws(JSONError) -> JSONValue {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try parse(raw, maxDepth: maxDepth, maxElements: maxElements) }
        }.get()
    }

    public static func parse(
        _ text: String, maxDepth: Int = defaultMaxDepth, maxElements: Int = .max
    ) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth, maxElements: maxElements)
    }
}

/// The bytes of JSON's syntax, shared by the reader and the writer (JSONWriter.swift).
enum ASCII {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
}

/// The parser's state over one document. Values being built live on two scratch stacks
/// (`values`, `names`); an open array/object is a ``Frame`` that remembers where its elements
/// start, and closing it moves them into the new container.
private struct JSONReader {
    struct Frame {
        let isObject: Bool
        let valueStart: Int
        let nameStart: Int
        /// For objects with many members: the names so far, so duplicate checks stay O(1).
        var nameSet: Set<String>? = nil
    }

    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    let maxElements: Int
    var position = 0
    var values: [JSONValue] = []
    var names: [String] = []
    var frames: [Frame] = []
    /// Reused for strings with escapes.
    var scratch: [UInt8] = []

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int, maxElements: Int) {
        self.bytes = bytes
        self.maxDepth = max(0, maxDepth)
        self.maxElements = max(0, maxElements)
    }

    func fail(_ reason: String, at offset: Int? = nil, _ kind: JSONError.Kind = .syntax) -> JSONError {
        JSONError(offset: offset ?? position, reason: reason, kind: kind)
    }

    /// "found the end" or "found 'x'", for messages.
    var found: String {
        guard position < bytes.count else { return "found the end" }
        let byte = bytes[position]
        if byte >= 0x21 && byte < 0x7F { return "found '\(Character(Unicode.Scalar(byte)))'" }
        return "found byte 0x" + hex2(byte)
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    mutating func document() throws(JSONError) -> JSONValue {
        skipWhitespace()
        while true {
            // A value starts here (whitespace skipped).
            guard position < bytes.count else { throw fail("expected a value, found the end") }
            var value: JSONValue
            switch bytes[position] {
            case ASCII.openBrace, ASCII.openBracket:
                let isObject = bytes[position] == ASCII.openBrace
                guard frames.count < maxDepth else {
                    throw fail("nesting deeper than \(maxDepth) levels", .depthLimit)
                }
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == (isObject ? ASCII.closeBrace : ASCII.closeBracket) {
                    position += 1
                    value = isObject ? .object([]) : .array([])
                } else {
                    frames.append(Frame(isObject: isObject, valueStart: values.count, nameStart: names.count))
                    if isObject { try memberName() }
                    continue
                }
            case ASCII.quote:
                value = .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                value = .null
            case ASCII.minus, ASCII.zero...UInt8(ascii: "9"):
                value = .number(try number())
            default:
                throw fail("expected a value, \(found)")
            }

            // A value is complete: add it to the open container, closing containers as they end.
            closing: while true {
                guard let frame = frames.last else {
                    skipWhitespace()
                    guard position == bytes.count else { throw fail("unexpected data after the JSON value") }
                    return value
                }
                values.append(value)
                let count = values.count - frame.valueStart
                skipWhitespace()
                let close = frame.isObject ? ASCII.closeBrace : ASCII.closeBracket
                guard position < bytes.count else {
                    throw fail(frame.isObject ? "expected ',' or '}', found the end" : "expected ',' or ']', found the end")
                }
                let byte = bytes[position]
                if byte == ASCII.comma {
                    guard count < maxElements else {
                        throw fail("more than \(maxElements) elements in \(frame.isObject ? "an object" : "an array")", .sizeLimit)
                    }
                    position += 1
                    skipWhitespace()
                    if frame.isObject { try memberName() }
                    break closing
                }
                guard byte == close else {
                    throw fail(frame.isObject ? "expected ',' or '}', \(found)" : "expected ',' or ']', \(found)")
                }
                position += 1
                frames.removeLast()
                if frame.isObject {
                    var members: [(String, JSONValue)] = []
                    members.reserveCapacity(count)
                    for i in 0..<count {
                        members.append((names[frame.nameStart + i], values[frame.valueStart + i]))
                    }
                    names.removeSubrange(frame.nameStart...)
                    values.removeSubrange(frame.valueStart...)
                    value = .object(members)
                } else {
                    let elements = Array(values[frame.valueStart...])
                    values.removeSubrange(frame.valueStart...)
                    value = .array(elements)
                }
            }
        }
    }

    /// Reads `"name"` and `:` of the next member of the innermost (object) frame, checking that
    /// the name is new, and skips the whitespace before the value.
    mutating func memberName() throws(JSONError) {
        guard position < bytes.count, bytes[position] == ASCII.quote else {
            throw fail("expected a member name (a string), \(found)")
        }
        let start = position
        let name = try string()
        let frame = frames.count - 1
        let nameStart = frames[frame].nameStart
        let existing = names.count - nameStart
        let duplicate: Bool
        if existing < 16 {
            duplicate = names[nameStart...].contains(name)
        } else {
            if frames[frame].nameSet == nil { frames[frame].nameSet = Set(names[nameStart...]) }
            duplicate = !frames[frame].nameSet!.insert(name).inserted
        }
        guard !duplicate else { throw fail("duplicate member name \"\(escapedForMessage(name))\"", at: start) }
        names.append(name)
        skipWhitespace()
        guard position < bytes.count, bytes[position] == ASCII.colon else {
            throw fail("expected ':' after a member name, \(found)")
        }
        position += 1
        skipWhitespace()
    }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        let start = word.utf8Start
        for i in 0..<count {
            guard position + i < bytes.count, bytes[position + i] == start[i] else {
                throw fail("invalid literal (expected true, false or null)")
            }
        }
        position += count
    }

    mutating func number() throws(JSONError) -> JSONNumber {
        let start = position
        func isDigit(_ at: Int) -> Bool { at < bytes.count && bytes[at] &- ASCII.zero < 10 }
        if bytes[position] == ASCII.minus {
            position += 1
            guard isDigit(position) else { throw fail("invalid number: expected a digit after '-'") }
        }
        if bytes[position] == ASCII.zero {
            position += 1
            if isDigit(position) { throw fail("invalid number: leading zeros are not allowed") }
        } else {
            while isDigit(position) { position += 1 }
        }
        var isInteger = true
        if position < bytes.count, bytes[position] == ASCII.dot {
            position += 1
            isInteger = false
            guard isDigit(position) else { throw fail("invalid number: expected a digit after '.'") }
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            isInteger = false
            if position < bytes.count, bytes[position] == ASCII.plus || bytes[position] == ASCII.minus { position += 1 }
            guard isDigit(position) else { throw fail("invalid number: expected a digit in the exponent") }
            while isDigit(position) { position += 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        return JSONNumber(validated: text, isInteger: isInteger)
    }

    /// Reads a string starting at its opening quote.
    mutating func string() throws(JSONError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes. Validates UTF-8 on the way.
        while true {
            guard position < bytes.count else { throw fail("unterminated string", at: start - 1) }
            let byte = bytes[position]
            if byte == ASCII.quote {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                position += 1
                return text
            }
            if byte == ASCII.backslash { break }
            if byte < 0x20 { throw fail("unescaped control character 0x\(hex2(byte)) in a string") }
            if byte < 0x80 {
                position += 1
            } else {
                position += try utf8Sequence()
            }
        }
        // Slow path: copy what was read so far and decode escapes.
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<position]))
        while true {
            guard position < bytes.count else { throw fail("unterminated string", at: start - 1) }
            let byte = bytes[position]
            switch byte {
            case ASCII.quote:
                position += 1
                return String(decoding: scratch, as: UTF8.self)
            case ASCII.backslash:
                try escape()
            case 0..<0x20:
                throw fail("unescaped control character 0x\(hex2(byte)) in a string")
            case 0..<0x80:
                scratch.append(byte)
                position += 1
            default:
                let length = try utf8Sequence()
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<position + length]))
                position += length
            }
        }
    }

    /// Checks the multi-byte UTF-8 sequence at `position` (whose first byte is >= 0x80) and
    /// returns its length; refuses overlong forms, surrogates and values above U+10FFFF.
    func utf8Sequence() throws(JSONError) -> Int {
        let lead = bytes[position]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw fail("invalid UTF-8 (byte 0x\(hex2(lead))) in a string")
        }
        guard position + length <= bytes.count else { throw fail("invalid UTF-8 (truncated sequence) in a string") }
        let second = bytes[position + 1]
        guard second >= low, second <= high else { throw fail("invalid UTF-8 (byte 0x\(hex2(second)) after 0x\(hex2(lead))) in a string") }
        for i in 2..<length where bytes[position + i] & 0xC0 != 0x80 {
            throw fail("invalid UTF-8 (byte 0x\(hex2(bytes[position + i])) in a sequence) in a string")
        }
        return length
    }

    /// Decodes the escape at `position` (a backslash) into `scratch`.
    mutating func escape() throws(JSONError) {
        let start = position
        guard position + 1 < bytes.count else { throw fail("unterminated string") }
        let code = bytes[position + 1]
        position += 2
        switch code {
        case ASCII.quote, ASCII.backslash, ASCII.slash: scratch.append(code)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard position + 1 < bytes.count, bytes[position] == ASCII.backslash, bytes[position + 1] == UInt8(ascii: "u") else {
                    throw fail("invalid \\u escape: high surrogate without a low surrogate", at: start)
                }
                position += 2
                let low = try hex4()
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw fail("invalid \\u escape: high surrogate without a low surrogate", at: start)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw fail("invalid \\u escape: low surrogate without a high surrogate", at: start)
            }
            appendUTF8(scalar)
        default:
            if code >= 0x21 && code < 0x7F {
                throw fail("invalid escape '\\\(Character(Unicode.Scalar(code)))' in a string", at: start)
            }
            throw fail("invalid escape in a string", at: start)
        }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count else { throw fail("invalid \\u escape: expected 4 hex digits, found the end") }
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case ASCII.zero...UInt8(ascii: "9"): digit = byte - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape: expected 4 hex digits")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18))
            scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
