import Foundation
import Synchronization

/// Runs nng's blocking calls (`nng_close`, `nng_ctx_close`) on a thread of its own, one at a
/// time, and lets the caller await them.
///
/// `nng_close` and `nng_ctx_close` wait for the socket's pending operations and callbacks to
/// finish. Called on Swift's cooperative pool (two threads on a 2-core machine) they can hold
/// both of its threads, and two closes of sockets that share pipes or references can wait on
/// each other; here they run serially, off the pool, and the awaiting task is suspended.
enum BlockingCalls {
    private final class Worker: @unchecked Sendable {
        private let condition = NSCondition()
        private var jobs: [@Sendable () -> Void] = []

        init() {
            let thread = Thread { [self] in loop() }
            thread.name = "nng-blocking"
            thread.start()
        }

        func submit(_ job: @escaping @Sendable () -> Void) {
            condition.lock()
            jobs.append(job)
            condition.signal()
            condition.unlock()
        }

        private func loop() {
            while true {
                condition.lock()
                while jobs.isEmpty { condition.wait() }
                let job = jobs.removeFirst()
                condition.unlock()
                job()
            }
        }
    }

    private static let worker = Worker()

    /// Runs `body` on the blocking-call thread and returns once it has run.
    static func run(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            worker.submit {
                body()
                continuation.resume()
            }
        }
    }

    /// Runs `body` on the blocking-call thread; returns true once it has run, or false when
    /// `timeout` passes first (the call goes on, and ``unfinished`` counts it until it ends).
    static func run(_ body: @escaping @Sendable () -> Void, timeout: Duration) async -> Bool {
        let race = Race()
        unfinishedCount.add(1, ordering: .relaxed)
        worker.submit {
            body()
            unfinishedCount.subtract(1, ordering: .relaxed)
            race.finish(true)
        }
        Task {
            try? await Task.sleep(for: timeout)
            race.finish(false)
        }
        return await race.value()
    }

    /// Blocking calls started with a timeout that have not returned yet.
    static var unfinished: Int { unfinishedCount.load(ordering: .relaxed) }
    private static let unfinishedCount = Atomic<Int>(0)

    /// The first of two outcomes wins; the awaiting task resumes once.
    private final class Race: Sendable {
        private let state = Mutex<(result: Bool?, continuation: CheckedContinuation<Bool, Never>?)>((nil, nil))

        func finish(_ value: Bool) {
            let continuation = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard state.result == nil else { return nil }
                state.result = value
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume(returning: value)
        }

        func value() async -> Bool {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool? in
                    if let result = state.result { return result }
                    state.continuation = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
