import Control
import Testing
import Wire

/// Random and mutated requests never crash the decoders and always give a result that is
/// consistent with itself.
@Suite("Ingest fuzzing")
struct IngestFuzzTests {
    typealias Kit = CodecTestKit

    static func check(_ bytes: [UInt8]) {
        let result = IngestDecoder.decode(bytes)
        #expect(bytes.withUnsafeBytes { IngestDecoder.decode($0) } == result)
        switch result {
        case .success(let request):
            #expect(request.itemCount == request.items.count + request.rejected.count)
            let indices = request.rejected.map(\.index)
            #expect(indices == indices.sorted() && Set(indices).count == indices.count)
            #expect(indices.allSatisfy { $0 >= 0 && $0 < request.itemCount })
            #expect((request.producer == nil) == (request.seq == nil))
            #expect(request.items.allSatisfy(Kit.isValid))
        case .failure(let error):
            #expect(!error.description.isEmpty)
            #expect(error.offset.map { $0 >= 0 && $0 <= bytes.count } ?? true)
        }
    }

    static let seeds: [[UInt8]] = {
        var binary = BinaryBatchEncoder(producer: "fuzz", seq: 3)
        binary.append(.setting(sensor: 17, Setting(unchecked: 21, up: 0.5, down: 0.5)))
        binary.append(.reading(sensor: .max, temperature: 23))
        binary.append(.reading(sensor: 2, temperature: .nan))
        return [
            binary.finish(),
            Array(#"{"producer":"p","seq":1,"items":[{"sensor":17,"temperature":21.4},{"sensor":18,"desired":21,"up":0.5,"down":0.5}]}"#.utf8),
            Array(#"[{"sensor":1,"temperature":-273.14},{"sensor":"x"},{"sensor":2,"temperature":1e999,"z":[1,{"a":"\u00e9\ud83d\ude00"}]}]"#.utf8),
            Array(#"{"sensor":18446744073709551615,"temperature":21.4}"#.utf8),
        ]
    }()

    @Test func randomBytes() {
        var rng = SplitMix64(seed: 2024)
        let alphabet = Array(#"{}[],:"\ 0123456789.eE+-truefalsn"#.utf8) + [0xFE, 0x54, 0x42, 0x01, 0x00, 0xC3, 0xFF]
        for round in 0..<1000 {
            let length = Int(rng.next() % 96)
            let bytes: [UInt8] = (0..<length).map { _ in
                round % 2 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))]
            }
            Self.check(bytes)
        }
    }

    @Test func mutatedValidRequests() {
        var rng = SplitMix64(seed: 77)
        for round in 0..<1000 {
            var bytes = Self.seeds[round % Self.seeds.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 5 {
                case 0 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
                case 1 where !bytes.isEmpty: bytes[position] ^= 1 << (rng.next() % 8)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                case 3 where !bytes.isEmpty: bytes.remove(at: position)
                default: bytes = Array(bytes.prefix(position))
                }
            }
            Self.check(bytes)
        }
    }

    @Test func randomBytesThroughTheParserDirectly() {
        var rng = SplitMix64(seed: 31337)
        for _ in 0..<1000 {
            let bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 3 == 0 ? rng.next() : UInt64(Array(#"[{"a":1}]"#.utf8)[Int(rng.next() % 9)])) }
            do {
                let value = try JSONParser.parse(bytes)
                var json = JSONWriter()
                json.value(value)
                #expect(try JSONParser.parse(json.bytes) == value)
            } catch {
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
    }
}
