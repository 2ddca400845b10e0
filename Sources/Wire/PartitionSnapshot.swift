/// A partition's state as of an offset, under an ownership epoch: the state is
/// ``CheckpointCodec``'s encoding, covering every item below `nextOffset`.
///
/// One type for the three places a snapshot appears: what a worker is told to start from
/// (``Assign``: the last checkpoint, or an empty state, under the new epoch), what a worker
/// reports (``Checkpoint``), and what the coordinator keeps on disk (Storage's
/// `CheckpointStore`, which stores all but the partition, named by the file).
public struct PartitionSnapshot: Sendable, Hashable {
    public var partition: UInt32
    public var epoch: UInt64
    public var nextOffset: UInt64
    public var state: [UInt8]

    public init(partition: UInt32, epoch: UInt64, nextOffset: UInt64, state: [UInt8]) {
        self.partition = partition
        self.epoch = epoch
        self.nextOffset = nextOffset
        self.state = state
    }
}

/// A partition given to a worker: start from the snapshot (a checkpoint, or an empty state
/// for a new partition) under its epoch.
public typealias Assign = PartitionSnapshot

/// A snapshot a worker took of a partition it owns (periodically, and when it lets it go).
public typealias Checkpoint = PartitionSnapshot
