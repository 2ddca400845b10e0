/// When the coordinator forces its logs to stable storage (docs/guarantees.md).
public enum FsyncPolicy: String, Sendable, CaseIterable {
    /// Before every acknowledgement (one fsync per group commit, shared by every request in
    /// it). Survives power loss and kernel crashes.
    case always
    /// At most every `--fsync-interval`, and before any checkpoint is written. Survives any
    /// crash of the process; power loss may take the last interval.
    case interval
    /// Never; the kernel writes back when it likes. Survives any crash of the process; power
    /// loss may take what the kernel had not written yet (typically up to 30 s).
    case never
}
