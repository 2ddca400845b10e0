import Control
import Dispatch
import Foundation
import Wire

/// The coordinator's data directory: the cluster's fixed parameters and each partition's newest
/// checkpoint.
///
/// Layout: `cluster.meta` (text: format version and partition count, written once when the
/// directory is created) and `checkpoints/partition-NNNNN.ckpt`. A checkpoint file is written
/// to a temporary name, fsynced, renamed over the old one and the directory fsynced, so a crash
/// leaves either the old or the new file, never a torn one. Each file carries a format version
/// and a CRC-32C; a file that fails either check is reported and ignored.
public struct DataDirectory: Sendable {
    public static let formatVersion = 1
    public let path: String
    public let partitionCount: Int

    public enum OpenError: Error, CustomStringConvertible {
        case io(String)
        case partitionMismatch(stored: Int, requested: Int)
        case badMeta(String)

        public var description: String {
            switch self {
            case .io(let message): message
            case .partitionMismatch(let stored, let requested):
                "the data directory was created with \(stored) partitions; --partitions \(requested) cannot change that"
            case .badMeta(let message): "cluster.meta: \(message)"
            }
        }
    }

    /// Opens the directory, creating it with `partitions` (default 64) when it is new.
    public static func open(path: String, partitions requested: Int?) throws(OpenError) -> DataDirectory {
        let fm = FileManager.default
        let meta = path + "/cluster.meta"
        do {
            try fm.createDirectory(atPath: path + "/checkpoints", withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create data directory \(path): \(error.localizedDescription)")
        }
        if let text = try? String(contentsOfFile: meta, encoding: .utf8) {
            var fields: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            guard fields["format"] == "\(formatVersion)" else {
                throw .badMeta("unsupported format \(fields["format"] ?? "?") (this build reads \(formatVersion))")
            }
            guard let stored = fields["partitions"].flatMap(Int.init), stored > 0 else {
                throw .badMeta("no valid partition count")
            }
            if let requested, requested != stored { throw .partitionMismatch(stored: stored, requested: requested) }
            return DataDirectory(path: path, partitionCount: stored)
        }
        let count = requested ?? 64
        let text = "format \(formatVersion)\npartitions \(count)\n"
        do {
            try atomicWrite(Array(text.utf8), to: meta, directory: path)
        } catch {
            throw .io("cannot write \(meta): \(error)")
        }
        return DataDirectory(path: path, partitionCount: count)
    }

    func checkpointPath(_ partition: Int) -> String {
        "\(path)/checkpoints/partition-\(String(repeating: "0", count: max(0, 5 - String(partition).count)))\(partition).ckpt"
    }

    /// A stored checkpoint: the ownership epoch it was taken under and the encoded state.
    public struct StoredCheckpoint: Sendable {
        public var epoch: UInt64
        public var nextOffset: UInt64
        public var state: [UInt8]
    }

    static let fileMagic: [UInt8] = Array("TSCF".utf8)

    public func writeCheckpoint(partition: Int, _ checkpoint: StoredCheckpoint) throws {
        var w = ByteWriter(capacity: checkpoint.state.count + 32)
        w.write(bytes: Self.fileMagic)
        w.write(UInt16(Self.formatVersion))
        w.write(checkpoint.epoch)
        w.write(checkpoint.nextOffset)
        w.write(blob: checkpoint.state)
        w.write(CRC32C.checksum(w.bytes))
        try Self.atomicWrite(w.bytes, to: checkpointPath(partition), directory: path + "/checkpoints")
    }

    public enum ReadResult: Sendable {
        case none
        case found(StoredCheckpoint)
        case corrupt(String)
    }

    public func readCheckpoint(partition: Int) -> ReadResult {
        guard let data = FileManager.default.contents(atPath: checkpointPath(partition)) else { return .none }
        let bytes = [UInt8](data)
        guard bytes.count >= 30, Array(bytes[0..<4]) == Self.fileMagic else { return .corrupt("not a checkpoint file") }
        let stored = bytes.suffix(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard CRC32C.checksum(bytes.dropLast(4)) == stored else { return .corrupt("checksum mismatch") }
        var r = ByteReader(Array(bytes.dropLast(4)), position: 4)
        do {
            let version: UInt16 = try r.read()
            guard version == Self.formatVersion else { return .corrupt("unsupported format version \(version)") }
            let checkpoint = StoredCheckpoint(epoch: try r.read(), nextOffset: try r.read(), state: try r.readBlob())
            _ = try CheckpointCodec.decode(checkpoint.state)
            return .found(checkpoint)
        } catch {
            return .corrupt(error.description)
        }
    }

    /// Writes `bytes` to `path` so that a crash leaves the old or the new content, never a mix.
    static func atomicWrite(_ bytes: [UInt8], to path: String, directory: String) throws {
        let temporary = path + ".tmp"
        let fd = Foundation.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXFailure(operation: "open \(temporary)") }
        var written = 0
        let result: Int = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue } else { return -1 } }
                written += n
            }
            return 0
        }
        guard result == 0, fsync(fd) == 0 else {
            close(fd)
            throw POSIXFailure(operation: "write \(temporary)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw POSIXFailure(operation: "rename \(temporary)") }
        let dfd = Foundation.open(directory, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}

struct POSIXFailure: Error, CustomStringConvertible {
    let operation: String
    let code = errno
    var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// Runs blocking work (disk) on a dedicated queue, never on Swift's cooperative pool.
enum BlockingIO {
    static let queue = DispatchQueue(label: "thermoshard.disk", qos: .utility)

    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
