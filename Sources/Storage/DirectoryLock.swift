#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on a data directory's `LOCK` file, held for as long as the process
/// runs, so that two coordinators never write one directory. The file holds the owner's pid,
/// which the refusal names. The kernel drops the lock when the process ends, however it ends
/// (SIGKILL included), so a crash never leaves a stale lock behind.
public final class DirectoryLock: Sendable {
    public let path: String
    private let fd: Int32

    public enum Failure: Error, CustomStringConvertible {
        case held(path: String, owner: String)
        case io(String)

        public var description: String {
            switch self {
            case .held(let path, let owner):
                "the data directory is in use by another coordinator (\(owner)); \(path) is locked. Stop that process or pick another --data directory"
            case .io(let message): message
            }
        }
    }

    /// Takes the lock on `directory/LOCK` without waiting, or says who holds it.
    public init(directory: String) throws(Failure) {
        path = directory + "/LOCK"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            guard code == EWOULDBLOCK else { throw .io("cannot lock \(path): \(String(cString: strerror(code)))") }
            let pid = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingWhitespace : ""
            throw .held(path: path, owner: pid.isEmpty ? "pid unknown" : "pid \(pid)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    deinit { close(fd) }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(unicodeScalars.filter { !$0.properties.isWhitespace })
    }
}
