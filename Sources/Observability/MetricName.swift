/// The name of every metric Thermoshard emits, in Prometheus style: the `thermoshard_` prefix,
/// units in the name, counters ending in `_total`. Emitted through swift-metrics; the
/// executable bootstraps swift-prometheus, and `GET /metrics` serves them (docs/deploy.md lists
/// them with their labels).
public enum MetricName {
    // MARK: Coordinator counters (mirrored from the status report's counters)
    public static let itemsAccepted = "thermoshard_items_accepted_total"
    /// Label `reason`: missing_field, unknown_field, invalid_value, invalid_item.
    public static let itemsRejected = "thermoshard_items_rejected_total"
    /// Label `reason`: the refusal code (docs/protocol.md): overloaded, too_large, stale, ...
    public static let requestsRefused = "thermoshard_requests_refused_total"
    public static let itemsProcessed = "thermoshard_items_processed_total"
    /// Items sent again to a partition's new owner (from its checkpoint on).
    public static let itemsReplayed = "thermoshard_items_replayed_total"
    public static let commands = "thermoshard_commands_total"
    public static let duplicateCommandsSuppressed = "thermoshard_duplicate_commands_suppressed_total"
    public static let duplicateRequests = "thermoshard_duplicate_requests_total"
    public static let droppedNoSetting = "thermoshard_readings_dropped_no_setting_total"
    public static let fenced = "thermoshard_fenced_total"
    /// Workers declared dead; each one's partitions fail over.
    public static let failovers = "thermoshard_failovers_total"
    /// Partitions handed over from a live owner (revoke, final checkpoint, release, assign).
    public static let handovers = "thermoshard_handovers_total"
    public static let partitionMoves = "thermoshard_partition_moves_total"
    /// Label `socket`: ingest, cluster, admin.
    public static let badFrames = "thermoshard_bad_frames_total"
    public static let checkpoints = "thermoshard_checkpoints_total"
    public static let badCheckpoints = "thermoshard_bad_checkpoints_total"
    public static let fsyncs = "thermoshard_fsyncs_total"

    // MARK: Coordinator gauges
    /// Label `state`: active, leaving.
    public static let members = "thermoshard_members"
    /// Label `worker`.
    public static let partitionsPerWorker = "thermoshard_worker_partitions"
    /// Label `state`: owned, releasing, unassigned.
    public static let partitions = "thermoshard_partitions"
    /// Label `partition`: items accepted and not processed.
    public static let partitionLagItems = "thermoshard_partition_lag_items"
    /// Label `partition`: how long its oldest unprocessed item has waited (sampled each second).
    public static let partitionLagSeconds = "thermoshard_partition_lag_seconds"
    public static let bufferedItems = "thermoshard_buffered_items"
    public static let journalBytes = "thermoshard_journal_bytes"
    public static let journalSegments = "thermoshard_journal_segments"
    /// The oldest newest-checkpoint over all partitions.
    public static let checkpointAgeSeconds = "thermoshard_checkpoint_age_max_seconds"
    public static let commandLogEnd = "thermoshard_command_log_end"
    public static let ready = "thermoshard_ready"

    // MARK: Coordinator histograms
    /// From a request's arrival to its reply (its group commit on disk).
    public static let ingestRequest = "thermoshard_ingest_request_seconds"
    public static let groupCommit = "thermoshard_group_commit_seconds"
    public static let fsync = "thermoshard_fsync_seconds"
    /// From a reading's group commit on disk to the worker's result with its command.
    public static let readingToCommand = "thermoshard_reading_to_command_seconds"
    public static let handoverPause = "thermoshard_handover_pause_seconds"
    public static let failoverPause = "thermoshard_failover_pause_seconds"
    public static let checkpointWrite = "thermoshard_checkpoint_write_seconds"
    public static let checkpointSize = "thermoshard_checkpoint_size_bytes"

    // MARK: Worker
    public static let workerItems = "thermoshard_worker_items_total"
    public static let workerCommands = "thermoshard_worker_commands_total"
    public static let workerCheckpoints = "thermoshard_worker_checkpoints_total"
    public static let workerAssignments = "thermoshard_worker_assignments_total"
    public static let workerRevocations = "thermoshard_worker_revocations_total"
    public static let workerFenced = "thermoshard_worker_fenced_total"
    public static let workerPartitions = "thermoshard_worker_owned_partitions"
    public static let workerRegistered = "thermoshard_worker_registered"
    public static let workerPoll = "thermoshard_worker_poll_seconds"

    // MARK: Simulator
    public static let simulatorReadings = "thermoshard_simulator_readings_total"
    public static let simulatorCommands = "thermoshard_simulator_commands_total"
    public static let simulatorHeating = "thermoshard_simulator_heaters_on"
    public static let simulatorOutOfBand = "thermoshard_simulator_out_of_band_ratio"
    public static let simulatorMeanError = "thermoshard_simulator_mean_error_degrees"
    public static let simulatorSend = "thermoshard_simulator_send_seconds"

    /// Histogram buckets, in seconds, for durations from microseconds (a commit without
    /// fsync) to seconds (a failover after the heartbeat timeout).
    public static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    /// Checkpoint sizes, bytes.
    public static let sizeBuckets: [Double] = [256, 1024, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864]
}
