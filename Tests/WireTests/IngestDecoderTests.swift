import Control
import Testing
import Wire

@Suite("Ingest decoding (JSON)")
struct IngestDecoderTests {
    typealias Kit = CodecTestKit

    @Test func singleReading() throws {
        let request = try Kit.request(#"{"sensor":17,"temperature":21.4}"#)
        #expect(request == IngestRequest(items: [.reading(sensor: 17, temperature: 21.4)]))
        #expect(request.itemCount == 1)
        #expect(request.producer == nil && request.seq == nil)
    }

    @Test func singleSetting() throws {
        let request = try Kit.request(#" {"up":0.5,"down":0.25,"sensor":18446744073709551615,"desired":21.0} "#)
        #expect(request.items == [.setting(sensor: .max, try Setting(desired: 21, up: 0.5, down: 0.25))])
    }

    @Test func arrayKeepsOrder() throws {
        let request = try Kit.request(#"""
            [{"sensor":17,"desired":21,"up":0.5,"down":0.5},
             {"sensor":17,"temperature":23},
             {"sensor":0,"temperature":-273.14}]
            """#)
        #expect(request.items == [
            .setting(sensor: 17, try Setting(desired: 21, up: 0.5, down: 0.5)),
            .reading(sensor: 17, temperature: 23),
            .reading(sensor: 0, temperature: -273.14),
        ])
        #expect(request.rejected.isEmpty)
    }

    @Test func emptyArrayIsValid() throws {
        let request = try Kit.request("[]")
        #expect(request.items.isEmpty && request.rejected.isEmpty && request.itemCount == 0)
        #expect(try Kit.request(#"{"producer":"p","seq":0,"items":[]}"#).itemCount == 0)
    }

    @Test func envelope() throws {
        let request = try Kit.request(#"{"producer":"plant-7","seq":41,"items":[{"sensor":1,"temperature":20},{"sensor":"x","temperature":1}]}"#)
        #expect(request.producer == "plant-7")
        #expect(request.seq == 41)
        #expect(request.items == [.reading(sensor: 1, temperature: 20)])
        #expect(request.rejected == [Rejection(index: 1, error: "sensor must be an unsigned 64-bit integer, not a string")])
        // Members in any order; seq up to UInt64.max; producer up to 256 bytes; no producer at all.
        let long = String(repeating: "é", count: 128)
        let other = try Kit.request(#"{"items":[],"seq":18446744073709551615,"producer":"\#(long)"}"#)
        #expect(other.producer == long && other.seq == .max)
        let anonymous = try Kit.request(#"{"items":[{"sensor":1,"temperature":20}]}"#)
        #expect(anonymous.producer == nil && anonymous.seq == nil && anonymous.items.count == 1)
    }

    @Test(arguments: [
        (#"{"producer":"p","items":[]}"#, "envelope: producer and seq go together; seq is missing"),
        (#"{"seq":1,"items":[]}"#, "envelope: producer and seq go together; producer is missing"),
        (#"{"producer":"","seq":1,"items":[]}"#, "envelope: producer must be a non-empty string of at most 256 bytes"),
        (#"{"producer":7,"seq":1,"items":[]}"#, "envelope: producer must be a non-empty string of at most 256 bytes"),
        (#"{"producer":"\#(String(repeating: "x", count: 257))","seq":1,"items":[]}"#, "envelope: producer must be a non-empty string of at most 256 bytes"),
        (#"{"producer":"p","seq":-1,"items":[]}"#, "envelope: seq must be an integer in 0...18446744073709551615"),
        (#"{"producer":"p","seq":1.5,"items":[]}"#, "envelope: seq must be an integer in 0...18446744073709551615"),
        (#"{"producer":"p","seq":18446744073709551616,"items":[]}"#, "envelope: seq must be an integer in 0...18446744073709551615"),
        (#"{"producer":"p","seq":"1","items":[]}"#, "envelope: seq must be an integer in 0...18446744073709551615"),
        (#"{"producer":"p","seq":1,"items":{}}"#, "envelope: items must be an array, not an object"),
        (#"{"producer":"p","seq":1}"#, "envelope: items is missing"),
        (#"{"producer":"p","seq":1,"items":[],"sensor":1}"#, "envelope: unknown field 'sensor' (an envelope has producer, seq and items)"),
        (#"{"sensor":1,"temperature":2,"items":[]}"#, "envelope: unknown field 'sensor' (an envelope has producer, seq and items)"),
    ])
    func badEnvelopes(input: String, message: String) {
        #expect(Kit.refusal(Kit.utf8(input))?.description == message)
    }

    @Test func requestsRefusedWhole() {
        #expect(Kit.refusal([])?.description == "not JSON: expected a value, found the end at byte 0")
        #expect(Kit.refusal(Kit.utf8(#"[{"sensor":1,"temperature":2},"#))?.description == "not JSON: expected a value, found the end at byte 30")
        #expect(Kit.refusal(Kit.utf8(#"{"sensor":1,"temperature":2} x"#))?.description == "not JSON: unexpected data after the JSON value at byte 29")
        #expect(Kit.refusal(Kit.utf8(#"{"sensor":1,"sensor":2}"#))?.description == #"not JSON: duplicate member name "sensor" at byte 12"#)
        #expect(Kit.refusal(Kit.utf8("17"))?.description
            == #"a request is an item object, an array of items or an envelope {"producer","seq","items"}, not a number"#)
        #expect(Kit.refusal(Kit.utf8("null")) != nil)
        #expect(Kit.refusal(Kit.utf8(#""x""#)) != nil)
        let error = Kit.refusal(Kit.utf8("[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]"))
        #expect(error?.description == "request refused: nesting deeper than 16 levels at byte 16")
        #expect(error?.offset == 16)
    }

    @Test func itemLimit() throws {
        let item = #"{"sensor":1,"temperature":20}"#
        let hundred = "[" + Array(repeating: item, count: 100).joined(separator: ",") + "]"
        var limits = IngestLimits()
        limits.maxItems = 100
        #expect(try Kit.request(hundred, limits: limits).items.count == 100)
        let more = "[" + Array(repeating: item, count: 101).joined(separator: ",") + "]"
        #expect(Kit.refusal(Kit.utf8(more), limits: limits)?.message
            == "request refused: more than 100 elements in an array (at most 100 items per request)")
        #expect(Kit.refusal(Kit.utf8(#"{"producer":"p","seq":1,"items":"# + more + "}"), limits: limits) != nil)
        #expect(IngestLimits().maxItems == 100_000 && IngestLimits().maxDepth == 16)
    }

    /// Every rejection reason, each for the exact index of the item.
    @Test(arguments: [
        (#"{"sensor":-1,"temperature":20}"#, "sensor must be an unsigned 64-bit integer: -1 is negative"),
        (#"{"sensor":-0,"temperature":20}"#, "sensor must be an unsigned 64-bit integer: -0 is negative"),
        (#"{"sensor":1.5,"temperature":20}"#, "sensor must be an unsigned 64-bit integer written without fraction or exponent: 1.5"),
        (#"{"sensor":17.0,"temperature":20}"#, "sensor must be an unsigned 64-bit integer written without fraction or exponent: 17.0"),
        (#"{"sensor":1e3,"temperature":20}"#, "sensor must be an unsigned 64-bit integer written without fraction or exponent: 1e3"),
        (#"{"sensor":18446744073709551616,"temperature":20}"#, "sensor must be an unsigned 64-bit integer: 18446744073709551616 is too large (the most is 18446744073709551615)"),
        (#"{"sensor":"17","temperature":20}"#, "sensor must be an unsigned 64-bit integer, not a string"),
        (#"{"sensor":null,"temperature":20}"#, "sensor must be an unsigned 64-bit integer, not null"),
        (#"{"sensor":true,"temperature":20}"#, "sensor must be an unsigned 64-bit integer, not a boolean"),
        (#"{"temperature":20}"#, "sensor is missing"),
        (#"{"sensor":1,"temperature":"20"}"#, "temperature must be a number, not a string"),
        (#"{"sensor":1,"temperature":null}"#, "temperature must be a number, not null"),
        (#"{"sensor":1,"desired":[21],"up":1,"down":1}"#, "desired must be a number, not an array"),
        (#"{"sensor":1,"temperature":1e999}"#, "temperature must be a finite number"),
        (#"{"sensor":1,"temperature":-1e999}"#, "temperature must be a finite number"),
        (#"{"sensor":1,"temperature":-273.15}"#, "temperature must be above -273.15"),
        (#"{"sensor":1,"temperature":-300}"#, "temperature must be above -273.15"),
        (#"{"sensor":1,"desired":1e999,"up":1,"down":1}"#, "desired must be a finite number"),
        (#"{"sensor":1,"desired":-273.15,"up":1,"down":1}"#, "desired must be above -273.15"),
        (#"{"sensor":1,"desired":20,"up":1e999,"down":1}"#, "up must be a finite number"),
        (#"{"sensor":1,"desired":20,"up":1,"down":-1e999}"#, "down must be a finite number"),
        (#"{"sensor":1,"desired":20,"up":-0.1,"down":1}"#, "up must be >= 0"),
        (#"{"sensor":1,"desired":20,"up":1,"down":-1}"#, "down must be >= 0"),
        (#"{"sensor":1,"temperature":20,"desired":20}"#, "an item is a reading (temperature) or a setting (desired, up, down), not both"),
        (#"{"sensor":1,"temperature":20,"up":1,"down":1,"desired":20}"#, "an item is a reading (temperature) or a setting (desired, up, down), not both"),
        (#"{"sensor":1}"#, "an item needs temperature (a reading) or desired, up and down (a setting)"),
        (#"{}"#, "sensor is missing"),
        (#"{"sensor":1,"desired":20,"down":1}"#, "a setting needs desired, up and down; 'up' is missing"),
        (#"{"sensor":1,"up":1,"down":1}"#, "a setting needs desired, up and down; 'desired' is missing"),
        (#"{"sensor":1,"desired":20}"#, "a setting needs desired, up and down; 'up' and 'down' are missing"),
        (#"{"sensor":1,"desire":20,"up":1,"down":1}"#, "unknown field 'desire'"),
        (#"{"sensor":1,"temprature":20}"#, "unknown field 'temprature'"),
        (#"{"sensor":1,"temperature":20,"unit":"C"}"#, "unknown field 'unit'"),
        (#"{"sensor":1,"temperature":20,"a\"b\n":1}"#, #"unknown field 'a\"b\n'"#),
        (#"[1]"#, "an item must be an object, not an array"),
        (#"17"#, "an item must be an object, not a number"),
        (#""x""#, "an item must be an object, not a string"),
        (#"null"#, "an item must be an object, not null"),
    ])
    func rejections(item: String, message: String) throws {
        // Alone, and as the middle item of a batch between two valid ones.
        if item.hasPrefix("{") {
            #expect(try Kit.rejection(item) == message)
        }
        let request = try Kit.request(#"[{"sensor":5,"temperature":1},"# + item + #",{"sensor":6,"temperature":2}]"#)
        #expect(request.items == [.reading(sensor: 5, temperature: 1), .reading(sensor: 6, temperature: 2)])
        #expect(request.rejected == [Rejection(index: 1, error: message)])
        #expect(request.itemCount == 3)
    }

    @Test func boundaryValuesAreAccepted() throws {
        #expect(try Kit.request(#"{"sensor":0,"temperature":-273.14}"#).items == [.reading(sensor: 0, temperature: -273.14)])
        #expect(try Kit.request(#"{"sensor":18446744073709551615,"temperature":1e308}"#).items == [.reading(sensor: .max, temperature: 1e308)])
        #expect(try Kit.request(#"{"sensor":1,"desired":-273.14,"up":0,"down":0}"#).items.count == 1)
        #expect(try Kit.request(#"{"sensor":1,"desired":20,"up":-0.0,"down":1e-300}"#).items.count == 1)
        #expect(try Kit.request(#"{"sensor":1,"temperature":1e-999}"#).items == [.reading(sensor: 1, temperature: 0)])
    }

    @Test func mixedBatchKeepsValidItemsBesideInvalidOnes() throws {
        let request = try Kit.request(#"""
            [{"sensor":1,"temperature":20},
             {"sensor":-2,"temperature":20},
             {"sensor":3,"desired":21,"up":0.5,"down":0.5},
             "junk",
             {"sensor":5,"temperature":1e999},
             {"sensor":6,"temprature":20},
             {"sensor":7,"temperature":-273.15},
             {"sensor":8,"temperature":-273.14},
             {"sensor":18446744073709551616,"temperature":20},
             {"sensor":10,"desired":21,"up":0.5}]
            """#)
        #expect(request.items == [
            .reading(sensor: 1, temperature: 20),
            .setting(sensor: 3, try Setting(desired: 21, up: 0.5, down: 0.5)),
            .reading(sensor: 8, temperature: -273.14),
        ])
        #expect(request.rejected.map(\.index) == [1, 3, 4, 5, 6, 8, 9])
        #expect(request.rejected.map(\.error) == [
            "sensor must be an unsigned 64-bit integer: -2 is negative",
            "an item must be an object, not a string",
            "temperature must be a finite number",
            "unknown field 'temprature'",
            "temperature must be above -273.15",
            "sensor must be an unsigned 64-bit integer: 18446744073709551616 is too large (the most is 18446744073709551615)",
            "a setting needs desired, up and down; 'down' is missing",
        ])
        #expect(request.itemCount == 10)
    }

    @Test func rawBufferOverloadAgrees() throws {
        let texts = [
            #"[{"sensor":1,"temperature":20},{"sensor":-1,"temperature":20}]"#,
            #"{"producer":"p","seq":3,"items":[{"sensor":2,"desired":1,"up":1,"down":1}]}"#,
            "[1,", "",
        ]
        for text in texts {
            let bytes = Kit.utf8(text)
            let viaBuffer = bytes.withUnsafeBytes { IngestDecoder.decode($0) }
            #expect(viaBuffer == IngestDecoder.decode(bytes))
        }
        var batch = BinaryBatchEncoder(producer: "p", seq: 9)
        batch.append(.reading(sensor: 1, temperature: 20))
        let binary = batch.finish()
        #expect(binary.withUnsafeBytes { IngestDecoder.decode($0) } == IngestDecoder.decode(binary))
    }

    /// Random valid and invalid items as JSON decode to exactly what the rules say.
    @Test func randomItemsAsJSON() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<50 {
            let items = (0..<Int(rng.next() % 200)).map { _ in Kit.randomItem(&rng) }.filter { item in
                switch item {
                case .reading(_, let t): !t.isNaN
                case .setting(_, let s): !s.desired.isNaN && !s.up.isNaN && !s.down.isNaN
                }
            }
            let request = try Kit.request("[" + items.map(Kit.json).joined(separator: ",") + "]")
            let expected = items.enumerated().filter { Kit.isValid($0.element) }
            #expect(request.items.count == expected.count)
            for (decoded, (_, original)) in zip(request.items, expected) {
                #expect(Kit.identical(decoded, original), "\(original)")
            }
            #expect(request.rejected.map(\.index) == items.indices.filter { !Kit.isValid(items[$0]) })
        }
    }
}
