public import Cluster
import Control
import Storage
public import Wire

extension CoordinatorCore {
    /// Admits a decoded request: appends its valid items to their partitions' logs and to the
    /// pending group commit, to be answered once that batch is on disk. A retry of an
    /// idempotent producer's last request gets the kept reply and appends nothing. A refusal
    /// (with its code, docs/protocol.md) appends nothing.
    public mutating func admit(_ request: IngestRequest, now: Nanoseconds) -> Admission {
        guard running else {
            return .refused(IngestReply.refused("coordinator is shutting down; retry", code: .shuttingDown).encode())
        }
        if let producer = request.producer, let seq = request.seq {
            switch producers.verdict(producer: producer, seq: seq) {
            case .new:
                break
            case .retry(let reply):
                counters.duplicateRequests += 1
                return .reply(reply, afterBatch: producerBatch[producer])
            case .stale(let last):
                counters.rejectedRequests += 1
                return .refused(IngestReply.refused(
                    "stale request: producer '\(producer)' already sent seq \(last), this is seq \(seq)", code: .stale).encode())
            }
        }
        if buffered + request.items.count > settings.maxBufferedItems {
            counters.rejectedRequests += 1
            log(.warning, rateKey: "overloaded", "refusing ingest: \(buffered) items wait for workers")
            return .refused(IngestReply.refused("overloaded: \(buffered) items are waiting for workers; retry later", code: .overloaded).encode())
        }
        let reply = IngestReply(accepted: request.items.count, rejected: request.rejected)
        let encoded = reply.encode()
        // What a retry will get: the reply itself, or its counts and first rejections if long.
        let kept = request.producer == nil ? [] : reply.retained(encoded: encoded)
        if let producer = request.producer, !producers.admits(producer: producer, replyBytes: kept.count, now: now) {
            counters.rejectedRequests += 1
            log(.warning, rateKey: "producers-full", "refusing ingest from new producers: the producer table is full (\(producers.count) producers)")
            return .refused(IngestReply.refused(
                "too many producers: the table of idempotent producers is full (\(producers.count) producers, \(producers.bytes) bytes), and none has been silent long enough to be forgotten; retry later",
                code: .tooManyProducers).encode())
        }
        let record = journalRecord(request, reply: kept)
        let size = JournalRecord.itemsPayloadSize(producer: record.producer, reply: kept.count, runs: record.spans.count, itemBytes: record.itemBytes)
        guard size <= JournalRecord.maximumPayload else {
            counters.rejectedRequests += 1
            // The journal's reader would take a longer record for corruption (RecordFraming).
            let error = "a record of \(size) bytes exceeds the limit of \(JournalRecord.maximumPayload) bytes per record; not written"
            log(.warning, rateKey: "record-too-large", "refused ingest request: \(error)")
            return .refused(IngestReply.refused("request refused: \(error)", code: .tooLarge).encode())
        }
        // Nothing refuses it from here on.
        pending.journal.append(record)
        record.forEachRun { span, items in
            let partition = Int(span.partition)
            logs[partition].append(contentsOf: items)
            pending.journalEnds[span.partition] = logs[partition].head
        }
        buffered += request.items.count
        counters.accepted += UInt64(request.items.count)
        counters.rejected += UInt64(request.rejected.count)
        if let producer = request.producer, let seq = request.seq {
            let outcome = producers.record(producer: producer, seq: seq, reply: kept, now: now)
            assert(outcome == .recorded, "the producer table refused what it admitted")
            producerBatch[producer] = batchNumber
            pending.producerUpdates.append(.init(producer: producer, seq: seq, reply: kept))
        }
        return .reply(encoded, afterBatch: batchNumber)
    }

    /// The request's items grouped into runs of consecutive offsets per partition, in
    /// first-touched order, each run starting at its partition's head: two passes over the
    /// items and one array, whatever the number of partitions (no array per run).
    mutating func journalRecord(_ request: IngestRequest, reply: [UInt8]) -> JournalRecord.Request {
        typealias Span = JournalRecord.Request.Span
        let items = request.items
        var spans: [Span] = []
        var itemBytes = 0
        // Per item, its run; `runScratch` maps a partition to its run while this runs (-1: none).
        var runOf = [Int32](repeating: 0, count: items.count)
        runScratch.withUnsafeMutableBufferPointer { runOfPartition in
            for (index, item) in items.enumerated() {
                let partition = partitioner.partition(of: item.sensor)
                var run = runOfPartition[partition]
                if run < 0 {
                    run = Int32(spans.count)
                    runOfPartition[partition] = run
                    spans.append(Span(partition: UInt32(partition), firstOffset: logs[partition].head, count: 0))
                }
                spans[Int(run)].count += 1
                runOf[index] = run
                itemBytes += ItemCodec.size(of: item)
            }
            for span in spans { runOfPartition[Int(span.partition)] = -1 }
        }
        let grouped: [Item]
        if spans.count <= 1 {
            grouped = items
        } else {
            var next = [Int](repeating: 0, count: spans.count)
            var start = 0
            for (run, span) in spans.enumerated() {
                next[run] = start
                start += span.count
            }
            grouped = [Item](unsafeUninitializedCapacity: items.count) { buffer, initialized in
                for (index, item) in items.enumerated() {
                    let run = Int(runOf[index])
                    (buffer.baseAddress! + next[run]).initialize(to: item)
                    next[run] += 1
                }
                initialized = items.count
            }
        }
        return JournalRecord.Request(producer: request.producer, seq: request.seq ?? 0, reply: reply, items: grouped, spans: spans, itemBytes: itemBytes)
    }

    // MARK: - Group commit

    /// The pending batch, if the disk is idle and there is one: the shell writes it and then
    /// calls ``batchWritten(_:_:report:)``. While a batch is being written the next one grows.
    public mutating func startWrite() -> (number: UInt64, batch: CommitBatch)? {
        guard !writing, !pending.isEmpty else { return nil }
        writing = true
        let batch = pending
        let number = batchNumber
        pending = CommitBatch()
        batchNumber += 1
        return (number, batch)
    }

    /// The disk removed journal segments outside a group commit (after a checkpoint write).
    public mutating func journalSegmentsRemoved(_ removed: Int, left: Int) {
        counters.journalSegmentsRemoved += UInt64(removed)
        counters.journalSegments = UInt64(left)
    }

    /// Whether batch `number` is on disk.
    public func isWritten(_ number: UInt64) -> Bool { number <= written }

    /// A batch is on disk: its items may go to workers (owners are woken); the shell then
    /// answers the requests that waited for it. (Its commands were published by then: the shell
    /// puts them on the feed from the disk thread, as soon as the batch is written.)
    public mutating func batchWritten(_ number: UInt64, _ batch: CommitBatch, report: WriteReport) {
        writing = false
        written = number
        counters.journalSegments = UInt64(report.journalSegments)
        counters.journalSegmentsRemoved += UInt64(report.removedSegments)
        if report.synced { counters.fsyncs += 1 }
        // Wake each owner once (a wake builds the worker's whole reply); a few workers, so a
        // list rather than a set (no hash of a name per partition).
        var owners: [WorkerID] = []
        for (partition, head) in batch.journalEnds {
            let partition = Int(partition)
            logs[partition].durable = max(logs[partition].durable, head)
            if let owner = markDeliverable(partition), !owners.contains(owner) { owners.append(owner) }
        }
        for worker in owners.sorted() { wake(worker) }
        if !producerBatch.isEmpty { producerBatch = producerBatch.filter { $0.value > number } }
        if let last = batch.commands.last { writtenCommandEnd = last.offset + 1 }
    }
}
