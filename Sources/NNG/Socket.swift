import CNNG
import Synchronization

/// Pipe add/remove events, from `nng_pipe_notify`.
public enum PipeEvent: Sendable, Hashable {
    case added(Pipe)
    case removed(Pipe)
}

/// An nng socket. Thread-safe, as nng sockets are: send and receive from any number of tasks.
/// Every send and receive is asynchronous (an nng aio), so no call blocks a Swift thread.
public final class Socket: Sendable {
    public enum Kind: Sendable { case req, rep, pub, sub, pair1, push, pull }

    let raw: nng_socket
    private let isClosed = Atomic<Bool>(false)
    private let notifier = Mutex<PipeNotifier?>(nil)

    public init(_ kind: Kind) throws(NNGError) {
        var socket = nng_socket()
        let rv: Int32 = switch kind {
        case .req: nng_req0_open(&socket)
        case .rep: nng_rep0_open(&socket)
        case .pub: nng_pub0_open(&socket)
        case .sub: nng_sub0_open(&socket)
        case .pair1: nng_pair1_open(&socket)
        case .push: nng_push0_open(&socket)
        case .pull: nng_pull0_open(&socket)
        }
        try NNGError.check(rv)
        raw = socket
    }

    deinit { close() }

    public func listen(_ url: String) throws(NNGError) {
        try NNGError.check(nng_listen(raw, url, nil, 0))
    }

    /// Dials without blocking: nng connects in the background and keeps reconnecting.
    public func dial(_ url: String) throws(NNGError) {
        try NNGError.check(nng_dial(raw, url, nil, Int32(NNG_FLAG_NONBLOCK)))
    }

    public func send(_ message: consuming Message, timeout: Duration? = nil) async throws(NNGError) {
        let socket = raw
        try await sendMessage(message, timeout: timeout) { nng_send_aio(socket, $0) }
    }

    public func send(_ bytes: [UInt8], timeout: Duration? = nil) async throws(NNGError) {
        try await send(try Message(bytes), timeout: timeout)
    }

    /// Sends without waiting: nng queues the message or, if it cannot at once, fails with
    /// ``NNGError/tryAgain`` (`NNG_FLAG_NONBLOCK`). Never blocks the calling thread, so it is
    /// safe anywhere; meant for PUB, which queues or drops per subscriber and never waits.
    public func trySend(_ bytes: [UInt8]) throws(NNGError) {
        let socket = raw
        let code = bytes.withUnsafeBytes { raw in
            nng_send(socket, UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count, Int32(NNG_FLAG_NONBLOCK))
        }
        try NNGError.check(code)
    }

    /// Receives on the calling thread, waiting until a message arrives or the socket closes.
    /// Blocks: call it only from a thread of your own
    /// (`Thread`), never from Swift's cooperative pool. For a subscriber that must keep up with
    /// a fast feed, it avoids the two thread hand-offs an async receive costs per message.
    public func receiveBlocking() throws(NNGError) -> Message {
        var message: OpaquePointer?
        try NNGError.check(nng_recvmsg(raw, &message, 0))
        return Message(taking: message!)
    }

    public func receive(timeout: Duration? = nil) async throws(NNGError) -> Message {
        let socket = raw
        return try await receiveMessage(timeout: timeout) { nng_recv_aio(socket, $0) }
    }

    public func makeContext() throws(NNGError) -> Context {
        try Context(socket: self)
    }

    /// Pipe events as a stream. One stream per socket: call it once, before listen or dial.
    public func pipeEvents() -> AsyncStream<PipeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: PipeEvent.self, bufferingPolicy: .unbounded)
        let box = PipeNotifier(continuation)
        // Stored under the lock that close() also takes, so that a stream made after (or while)
        // the socket closes is finished rather than left waiting forever.
        let closed = notifier.withLock { existing in
            precondition(existing == nil, "pipeEvents() is called once per socket")
            existing = box
            return isClosed.load(ordering: .acquiring)
        }
        if closed {
            continuation.finish()
            return stream
        }
        let argument = Unmanaged.passUnretained(box).toOpaque()
        let callback: nng_pipe_cb = { pipe, event, argument in
            let box = Unmanaged<PipeNotifier>.fromOpaque(argument!).takeUnretainedValue()
            let id = UInt32(max(0, nng_pipe_id(pipe)))
            if event == NNG_PIPE_EV_ADD_POST { box.continuation.yield(.added(Pipe(id: id))) }
            if event == NNG_PIPE_EV_REM_POST { box.continuation.yield(.removed(Pipe(id: id))) }
        }
        if nng_pipe_notify(raw, NNG_PIPE_EV_ADD_POST, callback, argument) != 0
            || nng_pipe_notify(raw, NNG_PIPE_EV_REM_POST, callback, argument) != 0 {
            continuation.finish()
        }
        return stream
    }

    // MARK: Options

    public func setReceiveMaxSize(_ bytes: Int) throws(NNGError) {
        try NNGError.check(nng_socket_set_size(raw, NNG_OPT_RECVMAXSZ, bytes))
    }

    public func setReconnect(minimum: Duration, maximum: Duration) throws(NNGError) {
        try NNGError.check(nng_socket_set_ms(raw, NNG_OPT_RECONNMINT, minimum.nngMilliseconds))
        try NNGError.check(nng_socket_set_ms(raw, NNG_OPT_RECONNMAXT, maximum.nngMilliseconds))
    }

    public func setRequestResendTime(_ time: Duration) throws(NNGError) {
        try NNGError.check(nng_socket_set_ms(raw, NNG_OPT_REQ_RESENDTIME, time.nngMilliseconds))
    }

    public func setSendBuffer(_ messages: Int) throws(NNGError) {
        try NNGError.check(nng_socket_set_int(raw, NNG_OPT_SENDBUF, Int32(clamping: messages)))
    }

    public func setReceiveBuffer(_ messages: Int) throws(NNGError) {
        try NNGError.check(nng_socket_set_int(raw, NNG_OPT_RECVBUF, Int32(clamping: messages)))
    }

    /// Subscribes a SUB socket to messages starting with `prefix` (empty: all messages).
    public func subscribe(to prefix: [UInt8]) throws(NNGError) {
        let rv = prefix.withUnsafeBytes { nng_socket_set(raw, NNG_OPT_SUB_SUBSCRIBE, $0.baseAddress, $0.count) }
        try NNGError.check(rv)
    }

    /// Closes the socket; pending operations end with ``NNGError/closed``. Idempotent.
    public func close() {
        let first = notifier.withLock { _ in !isClosed.exchange(true, ordering: .acquiringAndReleasing) }
        guard first else { return }
        nng_close(raw)
        notifier.withLock { $0?.continuation.finish() }
    }
}

/// Holds the pipe-event stream's continuation for nng's callback (kept alive by the socket).
final class PipeNotifier: Sendable {
    let continuation: AsyncStream<PipeEvent>.Continuation
    init(_ continuation: AsyncStream<PipeEvent>.Continuation) { self.continuation = continuation }
}

/// An nng context: independent request/reply state on a shared REQ or REP socket, so many
/// exchanges can be in flight on one socket.
public final class Context: Sendable {
    let raw: nng_ctx
    private let socket: Socket
    private let isClosed = Atomic<Bool>(false)

    init(socket: Socket) throws(NNGError) {
        var context = nng_ctx()
        try NNGError.check(nng_ctx_open(&context, socket.raw))
        raw = context
        self.socket = socket
    }

    deinit { close() }

    public func send(_ message: consuming Message, timeout: Duration? = nil) async throws(NNGError) {
        let context = raw
        try await sendMessage(message, timeout: timeout) { nng_ctx_send(context, $0) }
    }

    public func send(_ bytes: [UInt8], timeout: Duration? = nil) async throws(NNGError) {
        try await send(try Message(bytes), timeout: timeout)
    }

    public func receive(timeout: Duration? = nil) async throws(NNGError) -> Message {
        let context = raw
        return try await receiveMessage(timeout: timeout) { nng_ctx_recv(context, $0) }
    }

    public func setRequestResendTime(_ time: Duration) throws(NNGError) {
        try NNGError.check(nng_ctx_set_ms(raw, NNG_OPT_REQ_RESENDTIME, time.nngMilliseconds))
    }

    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        nng_ctx_close(raw)
    }
}

extension Duration {
    /// Whole milliseconds for nng, rounded up (so that a timeout under 1 ms still waits
    /// instead of becoming nng's 0, "do not wait") and clamped instead of overflowing.
    var nngMilliseconds: nng_duration {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return nng_duration.max }
        let fraction = (max(0, attoseconds) + 999_999_999_999_999) / 1_000_000_000_000_000
        let (total, overflow2) = whole.addingReportingOverflow(fraction)
        return overflow2 ? nng_duration.max : nng_duration(clamping: total)
    }
}
