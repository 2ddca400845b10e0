import Control
public import Wire

/// Each partition's two newest checkpoints, `partition-NNNNN.ckpt` and `.prev`, under
/// `checkpoints/`.
///
/// Both files of every partition are made, empty, when the store opens and they are not there
/// (at a data directory's first start: two files a partition). An empty file is a slot, not a
/// checkpoint. A new checkpoint overwrites the older of the two, `.prev`, in place, is synced,
/// and the two names are swapped in one atomic step (`renameat2` with `RENAME_EXCHANGE`): the
/// new one is `.ckpt`, the one before it `.prev`. No file is created while the coordinator
/// serves: with 4,096 partitions checkpointed every second, creating a file for each (ext4
/// searching for a free inode among thousands freed a second ago) and two renames had been a
/// quarter of the coordinator's work, and even the first two checkpoints of each partition,
/// created as files, were a third of the coordinator's samples over a fresh cluster's first
/// seconds. On a file system that cannot swap names (or if a file went missing), a write goes
/// to a temporary file, is synced, the current file becomes `.prev` and the new one takes its
/// name. A group of checkpoints is written and synced together.
/// A crash at any point leaves at least one intact checkpoint: the one not being written
/// (a torn overwrite fails its checksum; before the swap, `.prev` may hold the newer one,
/// which loading finds by its offset). Each file
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
    /// False once the file system refused to swap two names: plain renames from then on.
    private var exchangeWorks = true
    /// Per partition: its newest intact checkpoint is in `.prev` (found so at loading: `.ckpt`
    /// was damaged, or older after a crash before a swap), so the next write goes over `.ckpt`.
    private var newestInPrevious: [Bool]

    public init(directory: String, partitionCount: Int) throws(StorageError) {
        self.directory = directory
        offsets = Array(repeating: (nil, nil), count: partitionCount)
        newestInPrevious = Array(repeating: false, count: partitionCount)
        try FileSystem.createDirectory(directory)
        try makeSlots()
    }

    /// The empty files this store made when it opened (a data directory's first start).
    public private(set) var slotsCreated = 0

    /// Creates the empty files not there yet, and makes their names durable.
    private func makeSlots() throws(StorageError) {
        for partition in 0..<partitionCount {
            for previous in [false, true] where !FileSystem.exists(path(partition, previous: previous)) {
                _ = try File(path: path(partition, previous: previous), create: true)
                slotsCreated += 1
            }
        }
        if slotsCreated > 0 { FileSystem.syncDirectory(directory) }
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
        var foundInPrevious: [Bool] = []
        for previous in [false, true] {
            let path = path(partition, previous: previous)
            let bytes: [UInt8]?
            do {
                bytes = try FileSystem.readFile(path)
            } catch {
                notes.append("checkpoint \(path) unreadable: \(error)")
                continue
            }
            // Missing, or an empty slot: no checkpoint there.
            guard let bytes, !bytes.isEmpty else { continue }
            switch Self.decode(bytes, partition: partition) {
            case .success(let checkpoint):
                found.append(checkpoint)
                foundInPrevious.append(previous)
            case .failure(let error): notes.append("checkpoint \(path) is damaged (\(error)); ignoring it")
            }
        }
        // The newer by offset, whichever name it has (a crash between an overwrite of `.prev`
        // and the swap leaves the newer one there); the journal is kept from the older one's.
        let newestIndex = found.indices.max { found[$0].nextOffset < found[$1].nextOffset }
        let newest = newestIndex.map { found[$0] }
        offsets[partition] = (newest?.nextOffset, found.count > 1 ? found.map(\.nextOffset).min() : nil)
        newestInPrevious[partition] = newestIndex.map { foundInPrevious[$0] } ?? false
        if newest != nil, found.count == 1, !notes.isEmpty {
            notes.append("partition \(partition) recovers from its older checkpoint (offset \(newest!.nextOffset)) and replays the journal from there")
        }
        return (newest, notes)
    }

    /// Writes a partition's new checkpoint, keeping the one before it as `.prev`.
    public func write(_ checkpoint: PartitionSnapshot, sync: Bool) throws(StorageError) {
        try write([checkpoint], sync: sync)
    }

    /// Writes new checkpoints (at most one per partition), each keeping the newest one before
    /// it as `.prev`. With `sync`, every file is durable before any takes its name, and one
    /// directory sync covers all the swaps and renames. A group of more than ``filesSyncedOneByOne`` files is made
    /// durable by one `syncfs` of the data directory's file system instead of a sync per file
    /// (with 4,096 partitions, 4,096 file syncs a second would be the checkpoint thread's whole
    /// work); on a file system shared with busy neighbours that call may take longer, but it
    /// runs on the checkpoint thread, never in a group commit.
    public func write(_ checkpoints: [PartitionSnapshot], sync: Bool) throws(StorageError) {
        guard !checkpoints.isEmpty else { return }
        let syncEach = sync && checkpoints.count <= Self.filesSyncedOneByOne
        // Per checkpoint, where both files exist: overwrite the one not holding the newest
        // checkpoint in place (`.prev`, then swap the names; `.ckpt` if it was found damaged or
        // older, then no swap); else a new file.
        var inPlace: [Bool] = []
        inPlace.reserveCapacity(checkpoints.count)
        for checkpoint in checkpoints {
            let partition = Int(checkpoint.partition)
            let current = path(partition), previous = path(partition, previous: true)
            let overwrite = exchangeWorks && FileSystem.exists(current) && FileSystem.exists(previous)
            let file: File
            if overwrite {
                file = try File(path: newestInPrevious[partition] ? current : previous, create: false)
                try file.overwrite(with: Self.encode(checkpoint))
            } else {
                let temporary = current + ".tmp"
                try? FileSystem.remove(temporary)
                file = try File(path: temporary, create: true)
                try file.append(Self.encode(checkpoint))
            }
            if syncEach { try file.sync() }
            inPlace.append(overwrite)
        }
        if sync, !syncEach { try FileSystem.syncFileSystem(of: directory) }
        for (checkpoint, overwrite) in zip(checkpoints, inPlace) {
            let partition = Int(checkpoint.partition)
            let current = path(partition), previous = path(partition, previous: true)
            if overwrite, newestInPrevious[partition] {
                newestInPrevious[partition] = false
            } else if overwrite {
                if try !FileSystem.exchange(previous, current) {
                    // The file system cannot swap names: `.prev` holds the new checkpoint (it
                    // is found by its offset); rename the other way round, and from now on
                    // write new files.
                    exchangeWorks = false
                    try FileSystem.rename(previous, to: current + ".tmp")
                    try FileSystem.rename(current, to: previous)
                    try FileSystem.rename(current + ".tmp", to: current)
                }
            } else {
                // A `.ckpt` found damaged or older does not become `.prev` over the newest.
                if FileSystem.exists(current), !newestInPrevious[partition] { try FileSystem.rename(current, to: previous) }
                try FileSystem.rename(current + ".tmp", to: current)
                newestInPrevious[partition] = false
            }
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
