/// What the shell reads for the metrics, beside the status report.
extension CoordinatorCore {
    /// The pauses of moved partitions that ended since the last call (handovers and failovers).
    public mutating func takePauses() -> [PauseSample] { pauses.takeRecent() }
}
