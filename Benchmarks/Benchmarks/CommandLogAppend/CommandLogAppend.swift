import Benchmark
import Control
import Fixtures
import Foundation
import Storage

/// The command log's record encoding, through its one public door: `CommandLog.append`, which
/// encodes the records (36 bytes each: the fields and a CRC-32C per record) into one buffer
/// and writes it with one pwrite(2). `CommandLog.encode(_:into:)` itself is internal to
/// Storage, so a reference benchmark writes the same number of bytes without encoding them:
/// the difference between the two is the encoding.
///
/// Files go to a new directory under the temporary directory ($TMPDIR, else /tmp; the page
/// cache, never fsync'd here), made in each benchmark's setup and removed in its teardown.
/// One iteration appends 1000 commands; records per second = throughput x 1000.
let benchmarks: @Sendable () -> Void = {
    // Each iteration adds 36,000 bytes to a file: cap the iterations (3000: 108 MB) and keep
    // them inside one segment (a segment roll fsyncs the directory: an outlier, not encoding).
    Benchmark.defaultConfiguration = .init(
        // (Add `--metric writeSyscalls --metric writeBytesLogical` to see the one 36,000-byte
        // write per iteration; reading them costs the harness 16 mallocs in the measured window.)
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        maxDuration: .seconds(2),
        maxIterations: 3000
    )
    let perAppend = 1000
    let sensors = Fixtures.sensorIDs(perAppend)
    let scratch = Scratch()

    Benchmark("CommandLog.append, 1000 records (encode + 1 pwrite of 36,000 bytes)") { benchmark in
        guard let log = scratch.log else { return benchmark.error("no command log (setup failed)") }
        let first = log.end
        let records = (0..<perAppend).map { i in
            CommandRecord(
                offset: first + UInt64(i), sensor: sensors[i], action: i % 2 == 0 ? .on : .off,
                partition: UInt32(i % 64), inputOffset: 5_000_000 + first + UInt64(i))
        }
        benchmark.startMeasurement()
        do {
            try log.append(records)
        } catch {
            benchmark.error("append failed: \(error)")
        }
    } setup: {
        let (log, _) = try CommandLog.open(directory: try scratch.makeDirectory() + "/commands", recordsPerSegment: 1 << 22)
        // The first append creates the segment file and syncs the directory: not measured.
        try log.append([CommandRecord(offset: 0, sensor: 1, action: .on, partition: 0, inputOffset: 0)])
        scratch.log = log
    } teardown: {
        scratch.remove()
    }

    // Reference: the same write without the encoding (one pwrite of 36,000 prepared bytes).
    let bytes = [UInt8](repeating: 0x5A, count: perAppend * CommandLog.recordSize)
    Benchmark("reference: pwrite of 36,000 prepared bytes, no encoding") { benchmark in
        let written = bytes.withUnsafeBytes { pwrite(scratch.fd, $0.baseAddress!, $0.count, off_t(scratch.size)) }
        guard written == bytes.count else { return benchmark.error("pwrite: \(String(cString: strerror(errno)))") }
        scratch.size += written
    } setup: {
        let path = try scratch.makeDirectory() + "/reference"
        scratch.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard scratch.fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    } teardown: {
        scratch.remove()
    }
}

/// The files of the benchmark running now (one at a time).
final class Scratch {
    var directory: String?
    var log: CommandLog?
    var fd: Int32 = -1
    var size = 0

    func makeDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "thermoshard-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        directory = path
        return path
    }

    func remove() {
        log = nil
        if fd >= 0 { close(fd) }
        fd = -1
        size = 0
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
        directory = nil
    }
}
