#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a process that uses nng ends.
public enum NNGProcess {
    /// True while a close started with a timeout has not returned (see
    /// ``Socket/close(_:timeout:)``): nng's exit-time cleanup (`nng_fini`, registered with
    /// `atexit`) would then wait for ever as well.
    public static var hasUnfinishedClose: Bool { BlockingCalls.unfinished > 0 }

    /// Ends the process with `code`. If an nng close is stuck, it flushes standard output and
    /// error and leaves without the `atexit` handlers (so without `nng_fini`); the kernel then
    /// closes every descriptor. Otherwise it exits normally.
    public static func exit(_ code: Int32) -> Never {
        if hasUnfinishedClose {
            fflush(nil)  // every output stream
            _exit(code)
        }
        systemExit(code)
    }
}

private func systemExit(_ code: Int32) -> Never { exit(code) }
