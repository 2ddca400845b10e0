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
    private let tracker = ConnectionTracker()
    private let trackerInstalled: Bool

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
        trackerInstalled = tracker.install(on: socket)
    }

    deinit { close() }

    public func listen(_ url: String) throws(NNGError) {
        try NNGError.check(nng_listen(raw, url, nil, 0))
    }

    /// Dials without blocking: nng connects in the background and keeps reconnecting.
    public func dial(_ url: String) throws(NNGError) {
        try NNGError.check(nng_dial(raw, url, nil, Int32(NNG_FLAG_NONBLOCK)))
    }

    /// Listens on `url`; a `tls+tcp://` address with `tls` (a ``TLSConfiguration/load()``ed
    /// value): the listener is created, given the TLS configuration and then started.
    public func listen(_ url: String, tls: TLSConfiguration?) throws(TLSSocketError) {
        guard let tls, TLSConfiguration.isTLS(url) else {
            do { try listen(url) } catch { throw .nng(error) }
            return
        }
        let config: TLSConfigHandle
        do { config = try tls.make(server: true) } catch { throw .tls(error) }
        var listener = nng_listener()
        do {
            try NNGError.check(nng_listener_create(&listener, raw, url))
        } catch {
            throw .nng(error)
        }
        do {
            // nng takes a reference of its own (nng_tls_config_hold); ours goes with `config`.
            try NNGError.check(nng_listener_set_ptr(listener, NNG_OPT_TLS_CONFIG, UnsafeMutableRawPointer(config.pointer)))
            try NNGError.check(nng_listener_start(listener, 0))
        } catch {
            nng_listener_close(listener)
            throw .nng(error)
        }
    }

    /// Dials `url` without blocking; a `tls+tcp://` address with `tls`: the dialer is created,
    /// given the TLS configuration (server name: the address's host unless `tls` names one)
    /// and then started.
    public func dial(_ url: String, tls: TLSConfiguration?) throws(TLSSocketError) {
        guard let tls, TLSConfiguration.isTLS(url) else {
            do { try dial(url) } catch { throw .nng(error) }
            return
        }
        let config: TLSConfigHandle
        do { config = try tls.make(server: false, host: TLSConfiguration.host(of: url)) } catch { throw .tls(error) }
        var dialer = nng_dialer()
        do {
            try NNGError.check(nng_dialer_create(&dialer, raw, url))
        } catch {
            throw .nng(error)
        }
        do {
            try NNGError.check(nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, UnsafeMutableRawPointer(config.pointer)))
            try NNGError.check(nng_dialer_start(dialer, Int32(NNG_FLAG_NONBLOCK)))
        } catch {
            nng_dialer_close(dialer)
            throw .nng(error)
        }
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
        let message = try await receiveMessage(timeout: timeout) { nng_recv_aio(socket, $0) }
        heard(message.rawPipe)
        return message
    }

    public func makeContext() throws(NNGError) -> Context {
        try Context(socket: self)
    }

    /// Pipe events as a stream. One stream per socket: call it once, before listen or dial.
    /// A socket that closes (or closed) finishes the stream.
    public func pipeEvents() -> AsyncStream<PipeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: PipeEvent.self, bufferingPolicy: .unbounded)
        precondition(tracker.attach(continuation), "pipeEvents() is called once per socket")
        if !trackerInstalled { continuation.finish() }
        return stream
    }

    /// Bounds this socket's connections (see ``ConnectionLimits``); call before listen. The
    /// timeouts are enforced by ``closeSilentConnections()``, which the owner calls now and then.
    public func limitConnections(_ limits: ConnectionLimits) {
        tracker.setLimits(limits)
    }

    /// Closes the connections that broke a timeout of ``limitConnections(_:)``; returns how many.
    @discardableResult
    public func closeSilentConnections() -> Int {
        let due = tracker.silentPipes(now: .now)
        for id in due { nng_pipe_close(nng_pipe(id: id)) }
        return due.count
    }

    /// Connections open now, refused and closed for silence so far.
    public var connectionStats: ConnectionStats { tracker.stats }

    /// Notes that a message arrived from `pipe` (it is not silent).
    func heard(_ pipe: nng_pipe) {
        tracker.heard(UInt32(max(0, nng_pipe_id(pipe))))
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
    ///
    /// Awaits `nng_close` on a thread of its own (``BlockingCalls``), never blocking Swift's
    /// cooperative pool: nng_close waits for the socket's pending callbacks.
    public func close() async {
        guard !isClosed.load(ordering: .acquiring) else { return }
        await BlockingCalls.run { self.close() }
    }

    /// Closes `sockets` one after another, in order, off the cooperative pool, waiting at most
    /// `timeout`; returns false if they did not all close in time.
    ///
    /// libnng 1.5.2 can hang in `nng_close` for ever when a REP pipe closes while its receive
    /// is being restarted (nanomsg/nng#1813, fixed in nng 1.8 by nanomsg/nng#1824); its single
    /// reaper thread then blocks every later close too. A process that shuts down uses the
    /// timeout to finish its own work and then leaves with ``NNGProcess/exit(_:)``.
    public static func close(_ sockets: [Socket], timeout: Duration) async -> Bool {
        await BlockingCalls.run({ for socket in sockets { socket.close() } }, timeout: timeout)
    }

    /// Closes the socket on the calling thread, waiting for nng's pending callbacks. Idempotent.
    /// Blocks: from async code, prefer `await close()`.
    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        nng_close(raw)
        tracker.finish()
    }
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
        let message = try await receiveMessage(timeout: timeout) { nng_ctx_recv(context, $0) }
        socket.heard(message.rawPipe)
        return message
    }

    public func setRequestResendTime(_ time: Duration) throws(NNGError) {
        try NNGError.check(nng_ctx_set_ms(raw, NNG_OPT_REQ_RESENDTIME, time.nngMilliseconds))
    }

    /// Closes the context off the cooperative pool (see ``Socket/close()-async``). Idempotent.
    public func close() async {
        guard !isClosed.load(ordering: .acquiring) else { return }
        await BlockingCalls.run { self.close() }
    }

    /// Closes `contexts` off the cooperative pool, waiting at most `timeout` (see
    /// ``Socket/close(_:timeout:)``); returns false if they did not all close in time.
    public static func close(_ contexts: [Context], timeout: Duration) async -> Bool {
        await BlockingCalls.run({ for context in contexts { context.close() } }, timeout: timeout)
    }

    /// Closes the context on the calling thread (blocks while nng finishes its callbacks).
    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        nng_ctx_close(raw)
    }
}

/// Why a listen or dial with TLS failed: nng's error, or a TLS configuration it could not take.
public enum TLSSocketError: Error, Sendable, Hashable, CustomStringConvertible {
    case nng(NNGError)
    case tls(TLSError)
    public var description: String {
        switch self {
        case .nng(let error): error.description
        case .tls(let error): error.description
        }
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
