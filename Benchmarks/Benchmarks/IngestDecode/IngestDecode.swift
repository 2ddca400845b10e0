import Benchmark
import Control
import Fixtures
import Wire

/// The coordinator's first hop: an ingest request's bytes to validated items
/// (`IngestDecoder.decode`, as `CoordinatorService` calls it). One iteration decodes one
/// request; items per second = throughput x the request's item count.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .mallocBytesCount],
        maxDuration: .seconds(2)
    )

    let sensors = Fixtures.sensorIDs(10_000)

    // A JSON array of 1000 readings, sensor IDs spread over 64 bits (mostly 19-20 digits):
    // the text most producers send.
    let jsonReadings = Fixtures.readings(1000, sensors: sensors)
    let json = Fixtures.jsonArray(jsonReadings)
    guard case .success(let fromJSON) = IngestDecoder.decode(json), fromJSON.items == jsonReadings else {
        fatalError("the JSON fixture does not decode to its readings")
    }
    Benchmark("JSON array, 1000 readings/request (\(json.count) bytes)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(IngestDecoder.decode(json))
        }
    }

    // The same with sensor IDs below 10^15: a number's text of at most 15 bytes is stored in
    // the String itself, longer ones (most 64-bit IDs) on the heap, one allocation each.
    let shortIDs = Fixtures.readings(1000, sensors: sensors.map { $0 % 1_000_000_000_000_000 })
    let jsonShort = Fixtures.jsonArray(shortIDs)
    guard case .success(let fromShort) = IngestDecoder.decode(jsonShort), fromShort.items == shortIDs else {
        fatalError("the JSON fixture with short ids does not decode to its readings")
    }
    Benchmark("JSON array, 1000 readings/request, sensor ids < 10^15 (\(jsonShort.count) bytes)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(IngestDecoder.decode(jsonShort))
        }
    }

    // The binary batch format of fast producers: 10,000 readings of 17 bytes.
    let binaryReadings = Fixtures.readings(10_000, sensors: sensors, seed: 3)
    var encoder = BinaryBatchEncoder(capacity: BinaryBatch.headerSize + BinaryBatch.readingSize * binaryReadings.count)
    encoder.append(contentsOf: binaryReadings)
    let binary = encoder.finish()
    guard case .success(let fromBinary) = IngestDecoder.decode(binary), fromBinary.items == binaryReadings else {
        fatalError("the binary fixture does not decode to its readings")
    }
    Benchmark("binary batch, 10000 readings/request (\(binary.count) bytes)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(IngestDecoder.decode(binary))
        }
    }
}
