import CNNG
import Synchronization

/// One nng asynchronous operation bridged to async/await.
///
/// The operation starts on nng's side; the calling task suspends on a continuation that nng's
/// completion callback resumes (callbacks run on nng's threads and only resume, never block).
/// Task cancellation cancels the aio, also when it comes before the operation started. The aio
/// is freed in `deinit` (`nng_aio_free` stops it first, waiting for a running callback), never
/// from its own callback.
final class AsyncIO: @unchecked Sendable {
    /// What the callback reaches: allocated before the aio, so its address can be the argument.
    private final class Completion: Sendable {
        struct State {
            var continuation: CheckedContinuation<Int32, Never>?
            var started = false
            var cancelled = false
        }

        let state = Mutex(State())
        nonisolated(unsafe) var aio: OpaquePointer?

        func completed() {
            let continuation = state.withLock { state in
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume(returning: nng_aio_result(aio))
        }
    }

    let aio: OpaquePointer
    private let completion = Completion()

    init(timeout: Duration?) throws(NNGError) {
        var raw: OpaquePointer?
        let rv = nng_aio_alloc(&raw, { argument in
            Unmanaged<Completion>.fromOpaque(argument!).takeUnretainedValue().completed()
        }, Unmanaged.passUnretained(completion).toOpaque())
        try NNGError.check(rv)
        aio = raw!
        completion.aio = raw
        if let timeout {
            nng_aio_set_timeout(aio, timeout.nngMilliseconds)
        }
    }

    deinit { nng_aio_free(aio) }

    /// Starts the operation with `start` and waits for its result code (0 on success).
    func run(_ start: (OpaquePointer) -> Void) async -> Int32 {
        let aio = aio
        let completion = completion
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
                let proceed = completion.state.withLock { state -> Bool in
                    if state.cancelled { return false }
                    state.continuation = continuation
                    state.started = true
                    return true
                }
                guard proceed else {
                    continuation.resume(returning: NNGError.canceled.code)
                    return
                }
                start(aio)
                // A cancellation that came between marking started and starting found nothing
                // to cancel: cancel now.
                if completion.state.withLock({ $0.cancelled }) { nng_aio_cancel(aio) }
            }
        } onCancel: {
            let started = completion.state.withLock { state -> Bool in
                state.cancelled = true
                return state.started
            }
            if started { nng_aio_cancel(completion.aio) }
        }
    }
}

/// Sends a message through `start` (a socket or context send); the message is nng's only on
/// success, so on failure it is taken back from the aio and freed.
func sendMessage(_ message: consuming Message, timeout: Duration?, _ start: (OpaquePointer) -> Void) async throws(NNGError) {
    let operation = try AsyncIO(timeout: timeout)
    nng_aio_set_msg(operation.aio, message.take())
    let rv = await operation.run(start)
    if rv != 0 {
        if let unsent = nng_aio_get_msg(operation.aio) { nng_msg_free(unsent) }
        nng_aio_set_msg(operation.aio, nil)
        throw NNGError(code: rv)
    }
}

/// Receives a message through `start` (a socket or context receive).
func receiveMessage(timeout: Duration?, _ start: (OpaquePointer) -> Void) async throws(NNGError) -> Message {
    let operation = try AsyncIO(timeout: timeout)
    let rv = await operation.run(start)
    try NNGError.check(rv)
    guard let raw = nng_aio_get_msg(operation.aio) else { throw NNGError.closed }
    nng_aio_set_msg(operation.aio, nil)
    return Message(taking: raw)
}
