public import Control

// The binary codec of the cluster protocol's messages (ClusterProtocol.swift), see
// docs/protocol.md.

// MARK: - Encoding

private enum Kind: UInt8 {
    case hello = 1, poll = 2, leave = 3
    case welcome = 16, work = 17, fenced = 18, refused = 19
}

extension ClusterRequest {
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: encodedSizeBound)
        switch self {
        case .hello(let hello):
            w.header(.hello, version: hello.token == nil ? 1 : 3)
            w.write(string: hello.worker)
            if let token = hello.token { w.write(string: token) }
        case .poll(let poll):
            w.header(.poll, version: poll.unrestored.isEmpty ? 1 : 2)
            w.write(string: poll.worker)
            w.write(poll.incarnation)
            w.write(UInt32(poll.results.count))
            for result in poll.results {
                w.write(result.partition)
                w.write(result.epoch)
                w.write(result.nextOffset)
                w.write(result.droppedNoSetting)
                w.write(UInt32(result.commands.count))
                for command in result.commands {
                    w.write(command.inputOffset)
                    w.write(command.sensor)
                    w.write(command.action.rawValue)
                }
            }
            w.write(UInt32(poll.checkpoints.count))
            for checkpoint in poll.checkpoints { w.write(checkpoint) }
            w.write(UInt32(poll.released.count))
            for released in poll.released { w.write(released) }
            if !poll.unrestored.isEmpty {
                w.write(UInt32(poll.unrestored.count))
                for unrestored in poll.unrestored {
                    w.write(unrestored.partition)
                    w.write(unrestored.epoch)
                    w.write(string: unrestored.reason)
                }
            }
        case .leave(let worker, let incarnation):
            w.header(.leave)
            w.write(string: worker)
            w.write(incarnation)
        }
        return w.finish()
    }

    /// At least the encoded size, so that a poll is written into one buffer, never grown: a
    /// poll that carries checkpoints is megabytes, and each doubling on the way would take
    /// fresh pages (the worker maps large blocks) and copy what was written.
    var encodedSizeBound: Int {
        guard case .poll(let poll) = self else { return 256 }
        var size = 64 + poll.worker.utf8.count + 16 * poll.released.count
        for result in poll.results { size += 32 + 17 * result.commands.count }
        for checkpoint in poll.checkpoints { size += 24 + checkpoint.state.count }
        for unrestored in poll.unrestored { size += 16 + unrestored.reason.utf8.count }
        return size
    }

    public static func decode(_ bytes: [UInt8]) throws(FrameError) -> ClusterRequest {
        let (reader, version) = try ByteReader.frame(bytes)
        var r = reader
        return try FrameError.mapping {
            let kind = try r.read(UInt8.self)
            switch Kind(rawValue: kind) {
            case .hello:
                var hello = Hello(worker: try r.readString())
                if version >= 3 { hello.token = try r.readString() }
                try r.end()
                return .hello(hello)
            case .poll:
                var poll = Poll(worker: try r.readString(), incarnation: try r.read())
                for _ in 0..<(try r.readCount(minimumElementSize: 28)) {
                    var result = PartitionResult(partition: try r.read(), epoch: try r.read(), nextOffset: try r.read())
                    result.droppedNoSetting = try r.read()
                    let count = try r.readCount(minimumElementSize: 17)
                    result.commands.reserveCapacity(count)
                    for _ in 0..<count {
                        let offset: UInt64 = try r.read()
                        let sensor: UInt64 = try r.read()
                        guard let action = HeaterAction(rawValue: try r.read()) else { throw DecodeError("invalid heater action") }
                        result.commands.append(ProducedCommand(inputOffset: offset, sensor: sensor, action: action))
                    }
                    poll.results.append(result)
                }
                for _ in 0..<(try r.readCount(minimumElementSize: 24)) {
                    poll.checkpoints.append(try r.readSnapshot())
                }
                for _ in 0..<(try r.readCount(minimumElementSize: 12)) { poll.released.append(try r.readPartitionEpoch()) }
                if version >= 2 {
                    for _ in 0..<(try r.readCount(minimumElementSize: 14)) {
                        poll.unrestored.append(Unrestored(partition: try r.read(), epoch: try r.read(), reason: try r.readString()))
                    }
                }
                try r.end()
                return .poll(poll)
            case .leave:
                let request = ClusterRequest.leave(worker: try r.readString(), incarnation: try r.read())
                try r.end()
                return request
            default:
                throw FrameError.unknownKind(kind)
            }
        }
    }
}

extension ClusterReply {
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: encodedSizeBound)
        switch self {
        case .welcome(let welcome):
            w.header(.welcome)
            w.write(welcome.incarnation)
            w.write(welcome.partitionCount)
            w.write(welcome.pollWaitMilliseconds)
            w.write(welcome.checkpointIntervalMilliseconds)
        case .work(let work):
            w.header(.work)
            w.write(UInt32(work.assigns.count))
            for assign in work.assigns { w.write(assign) }
            w.write(UInt32(work.runs.count))
            work.forEachBatch { run, items in
                w.write(run.partition)
                w.write(run.epoch)
                w.write(run.firstOffset)
                w.write(UInt32(run.count))
                for item in items { ItemCodec.write(item, into: &w) }
            }
            w.write(UInt32(work.revokes.count))
            for revoke in work.revokes { w.write(revoke) }
            w.write(work.goodbye)
        case .fenced(let reason):
            w.header(.fenced)
            w.write(string: reason)
        case .refused(let reason):
            w.header(.refused)
            w.write(string: reason)
        }
        return w.finish()
    }

    /// At least the encoded size, so that a reply is written into one buffer, never grown: a
    /// reply that restores partitions is 4 MiB, and doubling up to it copied and zero-filled
    /// twice that (a fifth of the coordinator's work while a failover's states went out).
    var encodedSizeBound: Int {
        switch self {
        case .welcome: return 64
        case .fenced(let reason), .refused(let reason): return 64 + reason.utf8.count
        case .work(let work):
            var size = 64 + 12 * work.revokes.count
            for assign in work.assigns { size += 24 + assign.state.count }
            size += 24 * work.runs.count
            for item in work.items { size += ItemCodec.size(of: item) }
            return size
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(FrameError) -> ClusterReply {
        var storage: [Item] = []
        return try decode(bytes, reusing: &storage)
    }

    /// Decodes a reply, its items into `storage` (emptied first; see ``takeItemStorage()``):
    /// a worker that hands each reply's storage back decodes into the same block every time,
    /// where a new one was page-faulted on each reply (it is a mapping of its own: large
    /// blocks are, in the worker, see `WorkerService.mapLargeBlocks`).
    public static func decode(_ bytes: [UInt8], reusing storage: inout [Item]) throws(FrameError) -> ClusterReply {
        var r = try ByteReader.frame(bytes).0
        return try FrameError.mapping {
            let kind = try r.read(UInt8.self)
            let reply: ClusterReply
            switch Kind(rawValue: kind) {
            case .welcome:
                reply = .welcome(Welcome(incarnation: try r.read(), partitionCount: try r.read(), pollWaitMilliseconds: try r.read(), checkpointIntervalMilliseconds: try r.read()))
            case .work:
                var work = Work()
                storage.removeAll(keepingCapacity: true)
                swap(&work._items, &storage)
                for _ in 0..<(try r.readCount(minimumElementSize: 24)) {
                    work.assigns.append(try r.readSnapshot())
                }
                let runs = try r.readCount(minimumElementSize: 24)
                if runs > 0 {
                    // One allocation for the items of every batch, never grown: at most what the
                    // bytes left can hold, and what a reply carries. (Grown by doubling, a
                    // reply's items were copied and page-faulted several times over: large
                    // blocks are mappings of their own in the worker.)
                    work._items.reserveCapacity(min(r.remaining / ItemCodec.readingSize, ClusterProtocol.maximumReplyItems))
                }
                for _ in 0..<runs {
                    let partition: UInt32 = try r.read(), epoch: UInt64 = try r.read(), firstOffset: UInt64 = try r.read()
                    let count = try r.readCount(minimumElementSize: ItemCodec.readingSize)
                    try work.appendBatch(partition: partition, epoch: epoch, firstOffset: firstOffset, decoding: count, from: &r)
                }
                for _ in 0..<(try r.readCount(minimumElementSize: 12)) { work.revokes.append(try r.readPartitionEpoch()) }
                work.goodbye = try r.read()
                reply = .work(work)
            case .fenced:
                reply = .fenced(reason: try r.readString())
            case .refused:
                reply = .refused(reason: try r.readString())
            default:
                throw FrameError.unknownKind(kind)
            }
            try r.end()
            return reply
        }
    }
}

extension FrameError {
    /// Runs a frame's body decoding, turning what it throws into a ``FrameError``.
    static func mapping<T>(_ body: () throws -> T) throws(FrameError) -> T {
        do {
            return try body()
        } catch let error as DecodeError {
            throw .malformed(error.message)
        } catch let error as FrameError {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
    }
}

extension ByteWriter {
    fileprivate mutating func write(_ snapshot: PartitionSnapshot) {
        write(snapshot.partition)
        write(snapshot.epoch)
        write(snapshot.nextOffset)
        write(blob: snapshot.state)
    }

    /// Every reply, and every request but a poll with unrestored partitions, is version 1.
    fileprivate mutating func header(_ kind: Kind, version: UInt8 = 1) {
        write(bytes: ClusterProtocol.magic)
        write(version)
        write(kind.rawValue)
    }

    fileprivate mutating func write(_ pe: PartitionEpoch) {
        write(pe.partition)
        write(pe.epoch)
    }
}

extension ByteReader {
    /// A reader after the magic and version, and the frame's version.
    fileprivate static func frame(_ bytes: [UInt8]) throws(FrameError) -> (ByteReader, UInt8) {
        guard bytes.count >= 5, bytes[0] == 0xFE, bytes[1] == 0x54, bytes[2] == 0x43 else { throw .notAClusterFrame }
        guard (ClusterProtocol.oldestVersion...ClusterProtocol.version).contains(bytes[3]) else { throw .unsupportedVersion(bytes[3]) }
        return (ByteReader(bytes, position: 4), bytes[3])
    }

    /// A partition snapshot (a checkpoint in a poll, an assignment in a reply): partition,
    /// epoch, next offset, state blob.
    fileprivate mutating func readSnapshot() throws(DecodeError) -> PartitionSnapshot {
        PartitionSnapshot(partition: try read(), epoch: try read(), nextOffset: try read(), state: try readBlob())
    }

    fileprivate mutating func readPartitionEpoch() throws(DecodeError) -> PartitionEpoch {
        PartitionEpoch(partition: try read(), epoch: try read())
    }

    fileprivate mutating func end() throws(DecodeError) {
        guard isAtEnd else { throw DecodeError("\(remaining) trailing bytes") }
    }
}

extension ClusterReply {
    /// A work reply's item array, emptied with its capacity kept, for the next
    /// ``decode(_:reusing:)``; the reply keeps everything but its batches. Empty for any other
    /// reply.
    public mutating func takeItemStorage() -> [Item] {
        guard case .work(var work) = self else { return [] }
        // The reply's reference goes first, so that the array is held once and empties in place.
        self = .work(Work(assigns: work.assigns, revokes: work.revokes, goodbye: work.goodbye))
        var items: [Item] = []
        swap(&items, &work._items)
        items.removeAll(keepingCapacity: true)
        return items
    }
}

extension Work {
    /// Decodes a batch of `count` items into ``items`` (no array of its own).
    mutating func appendBatch(partition: UInt32, epoch: UInt64, firstOffset: UInt64, decoding count: Int, from r: inout ByteReader) throws(DecodeError) {
        for _ in 0..<count { _items.append(try ItemCodec.read(&r)) }
        _runs.append(Run(partition: partition, epoch: epoch, firstOffset: firstOffset, count: count))
    }
}
