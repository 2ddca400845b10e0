/// The coordinator's data directory (docs/storage.md):
///
///     LOCK                held (flock) by the coordinator using the directory; holds its pid
///     cluster.meta        format version and partition count, written once
///     journal/            the ingest journal (IngestJournal)
///     commands/           the command log (CommandLog)
///     checkpoints/        each partition's two newest checkpoints (CheckpointStore)
public struct DataDirectory: Sendable {
    public static let formatVersion = 2
    public let path: String
    public let partitionCount: Int
    /// Held while the directory is open: no second coordinator can use it meanwhile.
    public let lock: DirectoryLock

    public var journalPath: String { path + "/journal" }
    public var commandsPath: String { path + "/commands" }
    public var checkpointsPath: String { path + "/checkpoints" }

    public enum OpenError: Error, CustomStringConvertible {
        case io(String)
        case partitionMismatch(stored: Int, requested: Int)
        case badMeta(String)
        case locked(DirectoryLock.Failure)

        public var description: String {
            switch self {
            case .io(let message): message
            case .partitionMismatch(let stored, let requested):
                "the data directory was created with \(stored) partitions; --partitions \(requested) cannot change that"
            case .badMeta(let message): "cluster.meta: \(message)"
            case .locked(let failure): failure.description
            }
        }
    }

    /// Opens the directory, creating it with `partitions` (default 64) when it is new.
    public static func open(path: String, partitions requested: Int?) throws(OpenError) -> DataDirectory {
        let meta = path + "/cluster.meta"
        do {
            try FileSystem.createDirectory(path)
        } catch {
            throw .io("cannot create data directory \(path): \(error)")
        }
        let lock: DirectoryLock
        do {
            lock = try DirectoryLock(directory: path)
        } catch {
            throw .locked(error)
        }
        let existing: [UInt8]?
        do {
            existing = try FileSystem.readFile(meta)
        } catch {
            throw .io("cannot read \(meta): \(error)")
        }
        if let existing {
            var fields: [String: String] = [:]
            for line in String(decoding: existing, as: UTF8.self).split(separator: "\n") {
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
            return DataDirectory(path: path, partitionCount: stored, lock: lock)
        }
        let count = requested ?? 64
        do {
            try FileSystem.atomicWrite(Array("format \(formatVersion)\npartitions \(count)\n".utf8), to: meta, sync: true)
        } catch {
            throw .io("cannot write \(meta): \(error)")
        }
        return DataDirectory(path: path, partitionCount: count, lock: lock)
    }
}
