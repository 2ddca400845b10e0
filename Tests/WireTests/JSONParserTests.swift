import Control
import Testing
import Wire

@Suite("JSON parser")
struct JSONParserTests {
    typealias Kit = CodecTestKit

    @Test func scalars() throws {
        #expect(try JSONParser.parse("null") == .null)
        #expect(try JSONParser.parse("true") == .bool(true))
        #expect(try JSONParser.parse(" \t\r\nfalse \n") == .bool(false))
        #expect(try JSONParser.parse("\"\"") == .string(""))
        for text in ["0", "-0", "17", "-17", "0.5", "21.4", "1e5", "1E+2", "-1.25e-3", "18446744073709551616"] {
            guard case .number(let number) = try JSONParser.parse(text) else {
                Issue.record("\(text) is not a number")
                continue
            }
            #expect(number.text == text)
        }
    }

    @Test func numbersKeepTheirLiteral() throws {
        func number(_ text: String) throws -> JSONNumber {
            guard case .number(let number) = try JSONParser.parse(text) else { throw JSONError(offset: 0, reason: "not a number") }
            return number
        }
        #expect(try number("18446744073709551615").uint64 == .max)
        #expect(try number("0").uint64 == 0)
        #expect(try number("18446744073709551616").uint64 == nil)
        #expect(try number("-1").uint64 == nil)
        #expect(try number("-0").uint64 == nil)
        #expect(try number("1.0").uint64 == nil)
        #expect(try number("1e2").uint64 == nil)
        #expect(try number("1e2").isInteger == false)
        #expect(try number("-9223372036854775808").int64 == .min)
        #expect(try number("21.4").double == 21.4)
        #expect(try number("1e999").double == .infinity)
        #expect(try number("-1e999").double == -.infinity)
        #expect(try number("1e-999").double == 0)
        #expect(try number("0.1").double == 0.1)
    }

    @Test func strings() throws {
        #expect(try JSONParser.parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{c}\n\r\t"))
        #expect(try JSONParser.parse(#""\u00e9\u00E9 \u20ac \u0000""#) == .string("éé € \u{0}"))
        #expect(try JSONParser.parse(#""\ud83d\ude00 \uD834\uDD1E""#) == .string("😀 𝄞"))
        #expect(try JSONParser.parse("\"héllo € 😀 \u{7F}\"") == .string("héllo € 😀 \u{7F}"))
        #expect(try JSONParser.parse(#""plain ascii then \n escape""#) == .string("plain ascii then \n escape"))
    }

    @Test func containers() throws {
        let value = try JSONParser.parse(#" { "b" : [1, {"c": null}, [], {}], "a" : "x" } "#)
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.0) == ["b", "a"])  // document order
        #expect(value[member: "a"] == .string("x"))
        #expect(value[member: "zz"] == nil)
        guard case .array(let elements)? = value[member: "b"] else {
            Issue.record("b is not an array")
            return
        }
        #expect(elements.count == 4)
        #expect(elements[1] == .object([("c", .null)]))
        #expect(elements[2] == .array([]))
        #expect(elements[3] == .object([]))
        #expect(try JSONParser.parse("[ ]") == .array([]))
        #expect(try JSONParser.parse("{ }") == .object([]))
    }

    /// Each error class, with its reason and the offset of the byte where it was found.
    @Test(arguments: [
        ("", "expected a value, found the end", 0),
        ("   ", "expected a value, found the end", 3),
        ("[1,2", "expected ',' or ']', found the end", 4),
        (#"{"a":1"#, "expected ',' or '}', found the end", 6),
        (#"{"a":1 "b":2}"#, #"expected ',' or '}', found '"'"#, 7),
        (#"{"a" 1}"#, "expected ':' after a member name, found '1'", 5),
        (#"{"a":}"#, "expected a value, found '}'", 5),
        ("[1,]", "expected a value, found ']'", 3),
        (#"{"a":1,}"#, "expected a member name (a string), found '}'", 7),
        ("{a:1}", "expected a member name (a string), found 'a'", 1),
        ("'x'", "expected a value, found '''", 0),
        ("[1 2]", "expected ',' or ']', found '2'", 3),
        ("{} x", "unexpected data after the JSON value", 3),
        ("[1]]", "unexpected data after the JSON value", 3),
        ("1 2", "unexpected data after the JSON value", 2),
        ("nul", "invalid literal (expected true, false or null)", 0),
        ("tru", "invalid literal (expected true, false or null)", 0),
        ("True", "expected a value, found 'T'", 0),
        ("NaN", "expected a value, found 'N'", 0),
        ("Infinity", "expected a value, found 'I'", 0),
        ("01", "invalid number: leading zeros are not allowed", 1),
        ("-01", "invalid number: leading zeros are not allowed", 2),
        ("-", "invalid number: expected a digit after '-'", 1),
        ("-a", "invalid number: expected a digit after '-'", 1),
        ("+1", "expected a value, found '+'", 0),
        (".5", "expected a value, found '.'", 0),
        ("1.", "invalid number: expected a digit after '.'", 2),
        ("1.e5", "invalid number: expected a digit after '.'", 2),
        ("1e", "invalid number: expected a digit in the exponent", 2),
        ("1e+", "invalid number: expected a digit in the exponent", 3),
        ("0x10", "unexpected data after the JSON value", 1),
        (#""abc"#, "unterminated string", 0),
        (#"["abc"#, "unterminated string", 1),
        (#""ab\"#, "unterminated string", 3),
        (#""\x""#, #"invalid escape '\x' in a string"#, 1),
        (#""\U0041""#, #"invalid escape '\U' in a string"#, 1),
        (#""\u12""#, #"invalid \u escape: expected 4 hex digits"#, 5),
        (#""\u12"#, #"invalid \u escape: expected 4 hex digits, found the end"#, 5),
        (#""\uzzzz""#, #"invalid \u escape: expected 4 hex digits"#, 3),
        (#""\ud800""#, #"invalid \u escape: high surrogate without a low surrogate"#, 1),
        (#""\ud800\u0041""#, #"invalid \u escape: high surrogate without a low surrogate"#, 1),
        (#""x\udc00""#, #"invalid \u escape: low surrogate without a high surrogate"#, 2),
        ("\"a\nb\"", "unescaped control character 0x0a in a string", 2),
        ("\"\t\"", "unescaped control character 0x09 in a string", 1),
        ("\"\u{0}\"", "unescaped control character 0x00 in a string", 1),
        (#"{"a":1,"a":2}"#, #"duplicate member name "a""#, 7),
        (#"{"sensor":1,"temperature":2,"sensor":3}"#, #"duplicate member name "sensor""#, 28),
        (#"{"\u0061":1,"a":2}"#, #"duplicate member name "a""#, 12),
        ("[1,2,3]\u{0}", "unexpected data after the JSON value", 7),
    ] as [(String, String, Int)])
    func errors(input: String, reason: String, offset: Int) {
        let error = Kit.parseError(input)
        #expect(error?.reason == reason, "\(input)")
        #expect(error?.offset == offset, "\(input)")
        #expect(error?.kind == .syntax)
        #expect(error?.description == "\(reason) at byte \(offset)")
    }

    @Test(arguments: [
        ([0x22, 0xC3, 0x28, 0x22], "invalid UTF-8 (byte 0x28 after 0xc3) in a string", 1),
        ([0x22, 0x61, 0xC0, 0x80, 0x22], "invalid UTF-8 (byte 0xc0) in a string", 2),  // overlong NUL
        ([0x22, 0xE0, 0x80, 0x80, 0x22], "invalid UTF-8 (byte 0x80 after 0xe0) in a string", 1),  // overlong
        ([0x22, 0xED, 0xA0, 0x80, 0x22], "invalid UTF-8 (byte 0xa0 after 0xed) in a string", 1),  // surrogate
        ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "invalid UTF-8 (byte 0x90 after 0xf4) in a string", 1),  // > U+10FFFF
        ([0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], "invalid UTF-8 (byte 0xf5) in a string", 1),
        ([0x22, 0x80, 0x22], "invalid UTF-8 (byte 0x80) in a string", 1),  // lone continuation
        ([0x22, 0xE2, 0x82, 0x22], "invalid UTF-8 (byte 0x22 in a sequence) in a string", 1),
        ([0x22, 0xF0, 0x9F, 0x98], "invalid UTF-8 (truncated sequence) in a string", 1),
        ([0x22, 0x5C, 0x6E, 0xFF, 0x22], "invalid UTF-8 (byte 0xff) in a string", 3),  // after an escape
        ([0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x31, 0x7D], "invalid UTF-8 (byte 0x22 after 0xc3) in a string", 2),  // in a name
        ([0xEF, 0xBB, 0xBF, 0x31], "expected a value, found byte 0xef", 0),  // a byte order mark is not JSON
    ] as [([UInt8], String, Int)])
    func invalidUTF8(input: [UInt8], reason: String, offset: Int) {
        let error = Kit.parseError(input)
        #expect(error?.reason == reason)
        #expect(error?.offset == offset)
    }

    @Test func manyMembersStillFindDuplicates() throws {
        let names = (0..<100).map { "\"k\($0)\":\($0)" }
        #expect(Kit.parseError("{" + names.joined(separator: ",") + "}") == nil)
        let error = Kit.parseError("{" + names.joined(separator: ",") + #","k57":0}"#)
        #expect(error?.reason == #"duplicate member name "k57""#)
    }

    @Test func depthLimit() throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        }
        #expect(Kit.parseError(nested(16)) == nil)
        let error = Kit.parseError(nested(17))
        #expect(error?.kind == .depthLimit)
        #expect(error?.offset == 16)
        #expect(error?.description == "nesting deeper than 16 levels at byte 16")
        // Objects count the same as arrays.
        let objects = String(repeating: #"{"a":"#, count: 16) + "1" + String(repeating: "}", count: 16)
        #expect(Kit.parseError(objects) == nil)
        #expect(Kit.parseError(#"{"a":"# + objects + "}")?.kind == .depthLimit)
        #expect(Kit.parseError("[" + objects + "]")?.kind == .depthLimit)
        // Scalars do not nest; other limits apply as told.
        #expect(Kit.parseError("1", maxDepth: 0) == nil)
        #expect(Kit.parseError("[]", maxDepth: 0)?.kind == .depthLimit)
        #expect(Kit.parseError(nested(3), maxDepth: 3) == nil)
        #expect(Kit.parseError(nested(4), maxDepth: 3)?.offset == 3)
    }

    @Test func hugeNestingIsRefusedWithoutCrashing() {
        let deep = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        let error = Kit.parseError(deep)
        #expect(error?.kind == .depthLimit)
        #expect(error?.offset == 16)
        let deepObjects = Array(String(repeating: #"{"a":"#, count: 100_000).utf8)
        #expect(Kit.parseError(deepObjects)?.kind == .depthLimit)
        // The parser keeps its own stack, on the heap: a limit far above the default does not
        // make it recurse. (The values it returns are trees, which Swift releases recursively:
        // that, not the parser, is why the limit must stay small.)
        let balanced = [UInt8](repeating: UInt8(ascii: "["), count: 1000) + [UInt8](repeating: UInt8(ascii: "]"), count: 1000)
        #expect(Kit.parseError(balanced, maxDepth: 1000) == nil)
        #expect(Kit.parseError(deep, maxDepth: 1_000_000)?.reason == "expected a value, found the end")
    }

    @Test func elementLimit() throws {
        #expect(try JSONParser.parse("[1,2,3]", maxElements: 3) == JSONParser.parse("[1,2,3]"))
        do {
            _ = try JSONParser.parse("[1,2,3,4]", maxElements: 3)
            Issue.record("no error")
        } catch {
            #expect(error.kind == .sizeLimit)
            #expect(error.offset == 6)
            #expect(error.reason == "more than 3 elements in an array")
        }
        do {
            _ = try JSONParser.parse(#"{"a":1,"b":2}"#, maxElements: 1)
            Issue.record("no error")
        } catch {
            #expect(error.kind == .sizeLimit)
            #expect(error.reason == "more than 1 elements in an object")
        }
    }
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test func objectsArraysAndScalars() {
        var json = JSONWriter()
        json.beginObject()
        json.key("accepted"); json.value(2)
        json.key("list"); json.beginArray()
        json.value(1); json.value(-2); json.value(UInt64.max); json.value(Int64.min)
        json.beginObject(); json.endObject()
        json.beginArray(); json.endArray()
        json.value(true); json.null(); json.value("s")
        json.endArray()
        json.key("d"); json.value(21.4)
        json.key("small"); json.value(1e-05)
        json.key("inf"); json.value(Double.infinity)
        json.key("nan"); json.value(Double.nan)
        json.endObject()
        let text = String(decoding: json.bytes, as: UTF8.self)
        #expect(text == #"{"accepted":2,"list":[1,-2,18446744073709551615,-9223372036854775808,{},[],true,null,"s"],"d":21.4,"small":1e-05,"inf":null,"nan":null}"#)
        #expect((try? JSONParser.parse(json.bytes)) != nil)
    }

    @Test func stringsAreEscaped() throws {
        var all = String()
        for scalar in 0..<0x80 { all.unicodeScalars.append(Unicode.Scalar(UInt8(scalar))) }
        all += "é€😀\u{2028}\"\\"
        var json = JSONWriter()
        json.value(all)
        #expect(try JSONParser.parse(json.bytes) == .string(all))
        var small = JSONWriter()
        small.value("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}/")
        #expect(String(decoding: small.bytes, as: UTF8.self) == #""a\"b\\c\n\r\t\b\f\u0001\u001f/""#)
    }

    @Test func appendsToExistingBytes() {
        var json = JSONWriter(appendingTo: Array("17 ".utf8))
        json.beginObject(); json.key("a"); json.value(0); json.endObject()
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"17 {"a":0}"#)
    }

    @Test func doublesRoundTrip() throws {
        var rng = SplitMix64(seed: 7)
        var values = CodecTestKit.extremeDoubles.filter(\.isFinite)
        for _ in 0..<2000 {
            let value = Double(bitPattern: rng.next())
            if value.isFinite { values.append(value) }
        }
        for value in values {
            var json = JSONWriter()
            json.value(value)
            guard case .number(let number) = try JSONParser.parse(json.bytes) else {
                Issue.record("\(value) did not give a number")
                continue
            }
            #expect(number.double.bitPattern == value.bitPattern, "\(value)")
        }
    }

    @Test func parsedValuesRoundTrip() throws {
        let text = #"{"a":[1,-0.5,1e999,"x\u0000y",true,false,null,{}],"b":{"c":[[]]},"é":"😀"}"#
        let value = try JSONParser.parse(text)
        var json = JSONWriter()
        json.value(value)
        #expect(try JSONParser.parse(json.bytes) == value)
    }
}
