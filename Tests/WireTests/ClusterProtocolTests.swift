import Control
import Testing
@testable import Wire

/// The cluster protocol's frames (docs/protocol.md): version 2 adds unrestored partitions to a
/// poll and nothing else, so version-1 peers keep understanding everything else.
@Suite("Cluster protocol")
struct ClusterProtocolTests {
    static let poll = Poll(
        worker: "w1", incarnation: 7,
        results: [PartitionResult(partition: 3, epoch: 2, nextOffset: 10, commands: [ProducedCommand(inputOffset: 9, sensor: 17, action: .off)], droppedNoSetting: 1)],
        checkpoints: [Checkpoint(partition: 3, epoch: 2, nextOffset: 10, state: [1, 2, 3])],
        released: [PartitionEpoch(partition: 4, epoch: 1)]
    )

    /// A version-1 poll as a version-1 worker writes it, byte for byte.
    static let versionOnePoll: [UInt8] = {
        var w = ByteWriter()
        w.write(bytes: [0xFE, 0x54, 0x43, 1, 2])
        w.write(string: "w1")
        w.write(UInt64(7))
        w.write(UInt32(1))
        w.write(UInt32(3)); w.write(UInt64(2)); w.write(UInt64(10)); w.write(UInt32(1))
        w.write(UInt32(1)); w.write(UInt64(9)); w.write(UInt64(17)); w.write(UInt8(1))
        w.write(UInt32(1))
        w.write(UInt32(3)); w.write(UInt64(2)); w.write(UInt64(10)); w.write(blob: [1, 2, 3])
        w.write(UInt32(1))
        w.write(UInt32(4)); w.write(UInt64(1))
        return w.bytes
    }()

    @Test func aPollWithoutUnrestoredPartitionsIsTheVersionOneFrame() throws {
        #expect(ClusterRequest.poll(Self.poll).encode() == Self.versionOnePoll)
        #expect(try ClusterRequest.decode(Self.versionOnePoll) == .poll(Self.poll))
    }

    @Test func unrestoredPartitionsTravelInAVersionTwoPoll() throws {
        var poll = Self.poll
        poll.unrestored = [Unrestored(partition: 5, epoch: 9, reason: "checkpoint checksum mismatch"), Unrestored(partition: 6, epoch: 9, reason: "")]
        let bytes = ClusterRequest.poll(poll).encode()
        #expect(Array(bytes.prefix(5)) == [0xFE, 0x54, 0x43, 2, 2])
        // The version-1 body, then the list.
        var tail = ByteWriter()
        tail.write(UInt32(2))
        tail.write(UInt32(5)); tail.write(UInt64(9)); tail.write(string: "checkpoint checksum mismatch")
        tail.write(UInt32(6)); tail.write(UInt64(9)); tail.write(string: "")
        #expect(Array(bytes.dropFirst(5)) == Array(Self.versionOnePoll.dropFirst(5)) + tail.bytes)
        #expect(try ClusterRequest.decode(bytes) == .poll(poll))
        // Truncated or with a forged count: refused as malformed.
        for bad in [Array(bytes.dropLast(3)), Array(bytes.dropLast(tail.bytes.count)) + [0xFF, 0xFF, 0, 0]] {
            #expect(throws: FrameError.self) { try ClusterRequest.decode(bad) }
        }
        // A version-1 frame with the list appended has trailing bytes.
        var mislabelled = bytes
        mislabelled[3] = 1
        #expect(throws: FrameError.malformed("\(tail.bytes.count) trailing bytes")) { try ClusterRequest.decode(mislabelled) }
    }

    /// A poll is written into one buffer sized before it starts: the bound is never below what
    /// the encoding takes, whatever the poll carries.
    @Test(arguments: [0, 1, 40], [0, 3, 5_000])
    func aPollsSizeBoundCoversItsEncoding(parts: Int, bytes: Int) {
        var poll = Self.poll
        poll.worker = String(repeating: "w", count: parts * 7 + 1)
        poll.results = (0..<parts).map { p in
            PartitionResult(partition: UInt32(p), epoch: 1, nextOffset: UInt64(bytes),
                            commands: (0..<bytes / 100).map { ProducedCommand(inputOffset: UInt64($0), sensor: UInt64($0), action: .on) })
        }
        poll.checkpoints = (0..<parts).map { Checkpoint(partition: UInt32($0), epoch: 1, nextOffset: 0, state: Array(repeating: 7, count: bytes)) }
        poll.released = (0..<parts).map { PartitionEpoch(partition: UInt32($0), epoch: 2) }
        poll.unrestored = (0..<parts).map { Unrestored(partition: UInt32($0), epoch: 3, reason: String(repeating: "x", count: bytes / 10)) }
        let request = ClusterRequest.poll(poll)
        #expect(request.encode().count <= request.encodedSizeBound)
    }

    /// The same for a reply: assignments with their states, batches of both kinds of item.
    @Test(arguments: [0, 1, 40], [0, 3, 5_000])
    func aReplysSizeBoundCoversItsEncoding(parts: Int, bytes: Int) throws {
        let setting = try Setting(desired: 20, up: 1, down: 1)
        let work = Work(
            assigns: (0..<parts).map { Assign(partition: UInt32($0), epoch: 1, nextOffset: 9, state: Array(repeating: 1, count: bytes)) },
            batches: (0..<parts).map { p in
                Batch(partition: UInt32(p), epoch: 1, firstOffset: 0, items: (0..<bytes / 10).map {
                    $0 % 3 == 0 ? .setting(sensor: UInt64($0), setting) : .reading(sensor: UInt64($0), temperature: 19.5)
                })
            },
            revokes: (0..<parts).map { PartitionEpoch(partition: UInt32($0), epoch: 2) }, goodbye: parts > 1)
        for reply in [ClusterReply.work(work), .fenced(reason: String(repeating: "f", count: bytes)), .refused(reason: "r"),
                      .welcome(Welcome(incarnation: 1, partitionCount: 64, pollWaitMilliseconds: 50, checkpointIntervalMilliseconds: 1000))] {
            #expect(reply.encode().count <= reply.encodedSizeBound)
        }
    }

    /// A worker decodes each reply's items into the block the previous reply's were in: the
    /// replies are the same as decoded afresh, the block is reused, and a reply handed back keeps
    /// everything but its batches.
    @Test func repliesDecodeIntoTheItemsOfThePreviousOne() throws {
        let setting = Item.setting(sensor: 4, try Setting(desired: 21, up: 1, down: 0.5))
        let first = ClusterReply.work(Work(
            assigns: [Assign(partition: 2, epoch: 1, nextOffset: 0, state: [9])],
            batches: [Batch(partition: 2, epoch: 1, firstOffset: 0, items: [setting, .reading(sensor: 4, temperature: 19)]),
                      Batch(partition: 5, epoch: 3, firstOffset: 7, items: (0..<300).map { .reading(sensor: 5, temperature: Double($0)) })],
            revokes: [PartitionEpoch(partition: 1, epoch: 4)]
        ))
        let second = ClusterReply.work(Work(batches: [Batch(partition: 5, epoch: 3, firstOffset: 307, items: [.reading(sensor: 5, temperature: 1)])]))
        var storage: [Item] = []
        var decoded = try ClusterReply.decode(first.encode(), reusing: &storage)
        #expect(decoded == first)
        guard case .work(let work) = decoded else { throw CancellationError() }
        #expect(work.runs.map(\.count) == [2, 300])
        #expect(work.batches.map(\.items) == [[setting, .reading(sensor: 4, temperature: 19)], (0..<300).map { .reading(sensor: 5, temperature: Double($0)) }])
        storage = decoded.takeItemStorage()
        #expect(decoded == .work(Work(assigns: work.assigns, revokes: work.revokes)))
        #expect(storage.isEmpty && storage.capacity >= 302)
        let block = storage.withUnsafeBufferPointer { $0.baseAddress }
        let next = try ClusterReply.decode(second.encode(), reusing: &storage)
        #expect(next == second)
        guard case .work(let nextWork) = next else { throw CancellationError() }
        #expect(nextWork.items.withUnsafeBufferPointer { $0.baseAddress } == block, "the same block")
    }

    @Test func everyOtherFrameIsVersionOne() {
        let frames: [[UInt8]] = [
            ClusterRequest.hello(Hello(worker: "w1")).encode(),
            ClusterRequest.leave(worker: "w1", incarnation: 3).encode(),
            ClusterReply.welcome(Welcome(incarnation: 1, partitionCount: 64, pollWaitMilliseconds: 100, checkpointIntervalMilliseconds: 1000)).encode(),
            ClusterReply.work(Work(assigns: [Assign(partition: 1, epoch: 2, nextOffset: 3, state: [4])])).encode(),
            ClusterReply.fenced(reason: "x").encode(),
            ClusterReply.refused(reason: "x").encode(),
        ]
        for frame in frames { #expect(frame[3] == 1) }
    }

    @Test func otherVersionsAreRefusedNamingTheVersionsSpoken() {
        var hello = ClusterRequest.hello(Hello(worker: "w1")).encode()
        hello[3] = 2
        #expect(throws: Never.self) { try ClusterRequest.decode(hello) }
        for version: UInt8 in [0, 4, 9] {
            hello[3] = version
            #expect(throws: FrameError.unsupportedVersion(version)) { try ClusterRequest.decode(hello) }
        }
        #expect(FrameError.unsupportedVersion(9).description == "unsupported cluster protocol version 9 (this build speaks 1 to 3)")
    }

    /// Version 3: a hello with a join token carries it at its end; one without is version 1.
    @Test func aHelloCarriesItsJoinTokenInVersionThree() throws {
        let frame = ClusterRequest.hello(Hello(worker: "w1", token: "s3cret-token-0123456789")).encode()
        #expect(frame[3] == 3)
        #expect(try ClusterRequest.decode(frame) == .hello(Hello(worker: "w1", token: "s3cret-token-0123456789")))
        var untokened = ClusterRequest.hello(Hello(worker: "w1")).encode()
        #expect(untokened[3] == 1)
        #expect(try ClusterRequest.decode(untokened) == .hello(Hello(worker: "w1")))
        // A version-3 hello without its token is truncated, not taken as tokenless.
        untokened[3] = 3
        #expect(throws: FrameError.self) { try ClusterRequest.decode(untokened) }
    }

    @Test func nameInUseIsARefusalOfItsOwnKind() throws {
        let reply = ClusterReply.nameInUse("worker 'w1' is registered on another connection")
        #expect(reply.isNameInUse)
        guard case .refused(let reason) = try ClusterReply.decode(reply.encode()) else {
            Issue.record("not a refusal")
            return
        }
        #expect(reason == "name in use: worker 'w1' is registered on another connection")
        #expect(!ClusterReply.refused(reason: "worker id must be 1-128 printable ASCII characters without spaces").isNameInUse)
        #expect(!ClusterReply.fenced(reason: "name in use").isNameInUse)
    }
}
