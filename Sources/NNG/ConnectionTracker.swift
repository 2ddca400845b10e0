import CNNG
import Synchronization

/// Limits on a listening socket's connections (pipes), so that no crowd of peers can exhaust
/// the process's file descriptors or memory.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections beyond this many are closed as they arrive.
    public var maximum: Int
    /// A connection that has sent no complete message this long after it opened is closed
    /// (nil: never). Also bounds how long a half-sent message can hold its receive buffer.
    public var silentTimeout: Duration?
    /// A connection that has sent nothing for this long is closed (nil: never). nng clients
    /// reconnect by themselves, so an idle client that speaks again only pays a reconnect.
    public var idleTimeout: Duration?

    public init(maximum: Int, silentTimeout: Duration? = nil, idleTimeout: Duration? = nil) {
        self.maximum = maximum
        self.silentTimeout = silentTimeout
        self.idleTimeout = idleTimeout
    }
}

/// What a socket's connection tracker has seen.
public struct ConnectionStats: Sendable, Equatable {
    /// Connections open now.
    public var open = 0
    /// Connections closed on arrival because ``ConnectionLimits/maximum`` were open.
    public var refused: UInt64 = 0
    /// Connections closed because they said nothing within a timeout.
    public var closedSilent: UInt64 = 0
}

/// Follows a socket's pipes through nng's pipe notifications: enforces ``ConnectionLimits``,
/// records when each pipe last delivered a message, and feeds ``Socket/pipeEvents()``.
/// nng calls it on its own threads; every callback only takes a lock briefly.
final class ConnectionTracker: Sendable {
    private struct Entry {
        let opened: ContinuousClock.Instant
        var lastHeard: ContinuousClock.Instant?
        var closing = false
    }

    private struct State {
        var pipes: [UInt32: Entry] = [:]
        var limits: ConnectionLimits?
        var stats = ConnectionStats()
        var continuation: AsyncStream<PipeEvent>.Continuation?
        var finished = false
    }

    private let state = Mutex(State())

    /// Installs the callbacks on `socket`; call before it listens or dials.
    func install(on socket: nng_socket) -> Bool {
        let argument = Unmanaged.passUnretained(self).toOpaque()
        let callback: nng_pipe_cb = { pipe, event, argument in
            let tracker = Unmanaged<ConnectionTracker>.fromOpaque(argument!).takeUnretainedValue()
            tracker.notify(pipe, event)
        }
        return nng_pipe_notify(socket, NNG_PIPE_EV_ADD_PRE, callback, argument) == 0
            && nng_pipe_notify(socket, NNG_PIPE_EV_ADD_POST, callback, argument) == 0
            && nng_pipe_notify(socket, NNG_PIPE_EV_REM_POST, callback, argument) == 0
    }

    private func notify(_ pipe: nng_pipe, _ event: nng_pipe_ev) {
        let id = UInt32(max(0, nng_pipe_id(pipe)))
        switch event {
        case NNG_PIPE_EV_ADD_PRE:
            let admit = state.withLock { state -> Bool in
                if let limits = state.limits, state.pipes.count >= limits.maximum {
                    state.stats.refused += 1
                    return false
                }
                state.pipes[id] = Entry(opened: .now)
                state.stats.open = state.pipes.count
                return true
            }
            // Closing a pipe in its ADD_PRE notification refuses it (nng_pipe_notify(3)).
            if !admit { nng_pipe_close(pipe) }
        case NNG_PIPE_EV_ADD_POST:
            let continuation = state.withLock { $0.pipes[id] == nil ? nil : $0.continuation }
            continuation?.yield(.added(Pipe(id: id)))
        case NNG_PIPE_EV_REM_POST:
            let continuation = state.withLock { state -> AsyncStream<PipeEvent>.Continuation? in
                guard state.pipes.removeValue(forKey: id) != nil else { return nil }
                state.stats.open = state.pipes.count
                return state.continuation
            }
            continuation?.yield(.removed(Pipe(id: id)))
        default:
            break
        }
    }

    func heard(_ pipe: UInt32) {
        let now = ContinuousClock.now
        state.withLock { state in
            if state.pipes[pipe] != nil { state.pipes[pipe]!.lastHeard = now }
        }
    }

    func setLimits(_ limits: ConnectionLimits) {
        state.withLock { $0.limits = limits }
    }

    var stats: ConnectionStats { state.withLock { $0.stats } }

    /// Attaches the event stream's continuation; false if one is attached already.
    func attach(_ continuation: AsyncStream<PipeEvent>.Continuation) -> Bool {
        let (attached, finished) = state.withLock { state -> (Bool, Bool) in
            guard state.continuation == nil else { return (false, state.finished) }
            state.continuation = continuation
            return (true, state.finished)
        }
        if finished { continuation.finish() }
        return attached
    }

    /// The socket closed: the event stream ends.
    func finish() {
        let continuation = state.withLock { state in
            state.finished = true
            return state.continuation
        }
        continuation?.finish()
    }

    /// The pipes that broke a timeout, marked as closed-for-silence.
    func silentPipes(now: ContinuousClock.Instant) -> [UInt32] {
        state.withLock { state in
            guard let limits = state.limits else { return [] }
            var due: [UInt32] = []
            for (id, entry) in state.pipes where !entry.closing {
                if let heard = entry.lastHeard {
                    if let idle = limits.idleTimeout, now - heard > idle { due.append(id) }
                } else if let silent = limits.silentTimeout, now - entry.opened > silent {
                    due.append(id)
                }
            }
            for id in due { state.pipes[id]!.closing = true }
            state.stats.closedSilent += UInt64(due.count)
            return due
        }
    }
}
