import Synchronization

/// Fans server-sent events out to every open `/api/events` stream. A slow reader loses the
/// oldest events (each stream buffers 16), so no reader holds anyone up; ``close()`` ends
/// every stream (graceful shutdown), and a stream opened after it ends at once.
final class EventHub: Sendable {
    private struct State {
        var next = 0
        var streams: [Int: AsyncStream<[UInt8]>.Continuation] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    var subscriberCount: Int { state.withLock { $0.streams.count } }

    func subscribe() -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(16))
        let id: Int? = state.withLock { state in
            guard !state.closed else { return nil }
            state.next += 1
            state.streams[state.next] = continuation
            return state.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.streams.removeValue(forKey: id) }
        }
        return stream
    }

    /// Sends one event (`event: NAME`, `data: JSON`) to every stream.
    func publish(_ name: String, _ json: [UInt8]) {
        let frame = Array("event: \(name)\ndata: ".utf8) + json + Array("\n\n".utf8)
        let streams = state.withLock { Array($0.streams.values) }
        for stream in streams { stream.yield(frame) }
    }

    func close() {
        let streams = state.withLock { state in
            state.closed = true
            defer { state.streams.removeAll() }
            return Array(state.streams.values)
        }
        for stream in streams { stream.finish() }
    }
}
