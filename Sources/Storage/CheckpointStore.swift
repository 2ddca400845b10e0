import Control
public import Wire

/// Each partition's two newest checkpoints, `partition-NNNNN.ckpt` and `.prev`, under
/// `checkpoints/`.
///
/// A write goes to a temporary file, is synced, the current file becomes `.prev`, and the new
/// one takes its name (a group of checkpoints is written and synced together): a crash at any point leaves at least one intact checkpoint. Each file
/// carries a magic, a format version and a CRC-32C. Loading takes the newest intact one; if it
/// is damaged, the older one (the ingest journal is kept from the older one's offset on, so
/// the partition replays a little more and loses nothing).
///
/// Confined to the disk thread: every method blocks.
public final class CheckpointStore {
    public static let formatVersion: UInt16 = 1
    static let magic: [UInt8] = Array("TSCF".utf8)
    public let directory: String
    /// Per partition, the offsets of its current and previous checkpoints on disk.
    private var offsets: [(current: UInt64?, previous: UInt64?)]

    public init(directory: String, partitionCount: Int) throws(StorageError) {
        self.directory = directory
        offsets = Array(repeating: (nil, nil), count: partitionCount)
        try FileSystem.createDirectory(directory)
    }

    public var partitionCount: Int { offsets.count }

    /// Up to this many checkpoints written together are synced file by file.
    public static let filesSyncedOneByOne = 8

    func path(_ partition: Int, previous: Bool = false) -> String {
        "\(directory)/partition-\(FileSystem.padded(partition, width: 5)).\(previous ? "prev" : "ckpt")"
    }

    /// The file holds all of the snapshot but its partition, which the file's name gives.
    static func encode(_ checkpoint: PartitionSnapshot) -> [UInt8] {
        var w = ByteWriter(capacity: checkpoint.state.count + 32)
        w.write(bytes: magic)
        w.write(formatVersion)
        w.write(checkpoint.epoch)
        w.write(checkpoint.nextOffset)
        w.write(blob: checkpoint.state)
        w.write(w.checksum(from: 0))
        return w.finish()
    }

    static func decode(_ bytes: [UInt8], partition: Int) -> Result<PartitionSnapshot, StorageError> {
        guard bytes.count >= 30, Array(bytes[0..<4]) == magic else { return .failure(StorageError("not a checkpoint file")) }
        guard CRC32C.checksum(bytes.dropLast(4)) == RecordFraming.load(bytes, bytes.count - 4) else {
            return .failure(StorageError("checksum mismatch"))
        }
        var r = ByteReader(Array(bytes.dropLast(4)), position: 4)
        do {
            let version: UInt16 = try r.read()
            guard version == formatVersion else { return .failure(StorageError("unsupported format version \(version)")) }
            let checkpoint = PartitionSnapshot(partition: UInt32(partition), epoch: try r.read(), nextOffset: try r.read(), state: try r.readBlob())
            _ = try CheckpointCodec.decode(checkpoint.state)
            return .success(checkpoint)
        } catch {
            return .failure(StorageError(error.description))
        }
    }

    /// The newest intact checkpoint of `partition`, and notes on any damaged one.
    public func load(partition: Int) -> (PartitionSnapshot?, [String]) {
        var notes: [String] = []
        var found: [PartitionSnapshot] = []
        for previous in [false, true] {
            let path = path(partition, previous: previous)
            let bytes: [UInt8]?
            do {
                bytes = try FileSystem.readFile(path)
            } catch {
                notes.append("checkpoint \(path) unreadable: \(error)")
                continue
            }
            guard let bytes else { continue }
            switch Self.decode(bytes, partition: partition) {
            case .success(let checkpoint): found.append(checkpoint)
            case .failure(let error): notes.append("checkpoint \(path) is damaged (\(error)); ignoring it")
            }
        }
        offsets[partition] = (found.first?.nextOffset, found.count > 1 ? found[1].nextOffset : nil)
        let newest = found.max { $0.nextOffset < $1.nextOffset }
        if newest != nil, found.count == 1, !notes.isEmpty {
            notes.append("partition \(partition) recovers from its older checkpoint (offset \(newest!.nextOffset)) and replays the journal from there")
        }
        return (newest, notes)
    }

    /// Writes a partition's new checkpoint, keeping the one before it as `.prev`.
    public func write(_ checkpoint: PartitionSnapshot, sync: Bool) throws(StorageError) {
        try write([checkpoint], sync: sync)
    }

    /// Writes new checkpoints (at most one per partition), each keeping the one before it as
    /// `.prev`. With `sync`, every file is durable before any takes its name, and one directory
    /// sync covers all the renames. A group of more than ``filesSyncedOneByOne`` files is made
    /// durable by one `syncfs` of the data directory's file system instead of a sync per file
    /// (with 4,096 partitions, 4,096 file syncs a second would be the checkpoint thread's whole
    /// work); on a file system shared with busy neighbours that call may take longer, but it
    /// runs on the checkpoint thread, never in a group commit.
    public func write(_ checkpoints: [PartitionSnapshot], sync: Bool) throws(StorageError) {
        guard !checkpoints.isEmpty else { return }
        let syncEach = sync && checkpoints.count <= Self.filesSyncedOneByOne
        for checkpoint in checkpoints {
            let temporary = path(Int(checkpoint.partition)) + ".tmp"
            try? FileSystem.remove(temporary)
            let file = try File(path: temporary, create: true)
            try file.append(Self.encode(checkpoint))
            if syncEach { try file.sync() }
        }
        if sync, !syncEach { try FileSystem.syncFileSystem(of: directory) }
        for checkpoint in checkpoints {
            let partition = Int(checkpoint.partition)
            let current = path(partition)
            if FileSystem.exists(current) { try FileSystem.rename(current, to: path(partition, previous: true)) }
            try FileSystem.rename(current + ".tmp", to: current)
            offsets[partition] = (checkpoint.nextOffset, offsets[partition].current)
        }
        if sync { FileSystem.syncDirectory(directory) }
    }

    /// The journal offset from which `partition` could have to replay: its older checkpoint's
    /// offset (0 until it has two).
    public func retainFrom(partition: Int) -> UInt64 {
        guard partition < offsets.count else { return 0 }
        return offsets[partition].previous ?? 0
    }
}
