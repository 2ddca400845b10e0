#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file system call: what was attempted, on which path, and the system's reason.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }

    static func posix(_ operation: String, _ path: String, code: Int32 = errno) -> StorageError {
        StorageError("\(operation) \(path): \(String(cString: strerror(code)))")
    }
}

/// An open file descriptor for appends and positioned reads. Every call blocks, so the owner
/// runs them on the disk thread, never on Swift's cooperative pool.
final class File {
    let path: String
    private let fd: Int32
    /// The file's size as this process wrote it.
    private(set) var size: Int

    /// Opens `path` for reading and appending, creating it if `create`.
    init(path: String, create: Bool) throws(StorageError) {
        self.path = path
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = FileSystem.open(path, flags, 0o644)
        guard fd >= 0 else { throw .posix("open", path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw .posix("stat", path, code: code)
        }
        self.fd = fd
        self.size = Int(info.st_size)
    }

    deinit { close(fd) }

    /// Writes `bytes` at the end of the file.
    func append(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        var written = 0
        while written < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(size + written))
            if n < 0 {
                if errno == EINTR { continue }
                throw .posix("write", path)
            }
            written += n
        }
        size += written
    }

    func append(_ bytes: [UInt8]) throws(StorageError) {
        guard !bytes.isEmpty else { return }
        let result: Result<Void, StorageError> = bytes.withUnsafeBytes { raw in
            Result { () throws(StorageError) in try append(raw) }
        }
        try result.get()
    }

    /// Reads up to `count` bytes at `offset` (fewer at the end of the file).
    func read(at offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        guard count > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var total = 0
        let failed: Int32? = buffer.withUnsafeMutableBytes { raw in
            while total < count {
                let n = pread(fd, raw.baseAddress! + total, count - total, off_t(offset + total))
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { break }
                total += n
            }
            return nil
        }
        if let failed { throw .posix("read", path, code: failed) }
        if total < count { buffer.removeLast(count - total) }
        return buffer
    }

    func readAll() throws(StorageError) -> [UInt8] { try read(at: 0, count: size) }

    /// Flushes the file's data to stable storage.
    func sync() throws(StorageError) {
        guard fdatasync(fd) == 0 else { throw .posix("fsync", path) }
    }

    /// Replaces the file's content with `bytes`, in place: written from the start, then cut at
    /// their end. The file keeps its inode (no directory entry changes); a crash on the way
    /// leaves a mix of old and new, which the caller's checksum must detect.
    func overwrite(with bytes: [UInt8]) throws(StorageError) {
        let old = size
        size = 0
        try append(bytes)
        if old > bytes.count { try truncate(to: bytes.count) }
    }

    /// Cuts the file at `length` (dropping a torn tail).
    func truncate(to length: Int) throws(StorageError) {
        guard ftruncate(fd, off_t(length)) == 0 else { throw .posix("truncate", path) }
        size = length
    }
}

/// Directory and whole-file helpers.
enum FileSystem {
    /// How long an `open` waits for a file descriptor when the process has none left.
    static let descriptorWait: Duration = .seconds(5)

    /// `open(2)`, waiting (up to ``descriptorWait``, on the calling thread: the disk thread)
    /// while the process is out of file descriptors. Running out is transient, as a crowd of
    /// connections comes and goes, and must not stop the coordinator as a storage failure.
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        let start = ContinuousClock.now
        while true {
            let fd = Glibc.open(path, flags, mode)
            if fd >= 0 || (errno != EMFILE && errno != ENFILE) || ContinuousClock.now - start > descriptorWait { return fd }
            usleep(10_000)
        }
    }

    static func createDirectory(_ path: String) throws(StorageError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o755) != 0, errno != EEXIST { throw .posix("mkdir", partial) }
        }
    }

    /// The names in a directory, sorted.
    static func list(_ path: String) throws(StorageError) -> [String] {
        guard let dir = opendir(path) else { throw .posix("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `number` in decimal, zero-padded to `width` digits, so that file names sort by number.
    static func padded(_ number: some BinaryInteger, width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    static func remove(_ path: String) throws(StorageError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .posix("remove", path) }
    }

    static func rename(_ from: String, to: String) throws(StorageError) {
        guard Glibc.rename(from, to) == 0 else { throw .posix("rename", from) }
    }

    /// Swaps the names of two files in one atomic step (`renameat2` with `RENAME_EXCHANGE`).
    /// Returns false, changing nothing, where the file system cannot (then the caller falls
    /// back to plain renames).
    static func exchange(_ a: String, _ b: String) throws(StorageError) -> Bool {
        let atCurrentDirectory: Int32 = -100  // AT_FDCWD
        let renameExchange: UInt32 = 2  // RENAME_EXCHANGE
        if linuxRenameat2(atCurrentDirectory, a, atCurrentDirectory, b, renameExchange) == 0 { return true }
        let code = errno
        if code == EINVAL || code == ENOSYS || code == EOPNOTSUPP { return false }
        throw .posix("rename (exchange)", a, code: code)
    }

    /// Makes everything written to the file system holding `path` durable (`syncfs`): one call
    /// for many files written together.
    static func syncFileSystem(of path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .posix("open", path) }
        defer { close(fd) }
        guard linuxSyncfs(fd) == 0 else { throw .posix("syncfs", path) }
    }

    /// Makes a directory's entries (creations, renames, removals) durable.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    static func readFile(_ path: String) throws(StorageError) -> [UInt8]? {
        guard exists(path) else { return nil }
        return try File(path: path, create: false).readAll()
    }

    /// Writes `bytes` to `path` so that a crash leaves the old or the new content, never a mix:
    /// a temporary file, synced (if `sync`), renamed over the old one, the directory synced.
    static func atomicWrite(_ bytes: [UInt8], to path: String, sync: Bool) throws(StorageError) {
        let temporary = path + ".tmp"
        try? remove(temporary)
        do {
            let file = try File(path: temporary, create: true)
            try file.append(bytes)
            if sync { try file.sync() }
        }
        try rename(temporary, to: path)
        if sync { syncDirectory(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])) }
    }
}

/// glibc's `syncfs(2)`, which Swift's Glibc module leaves out (it is declared under `_GNU_SOURCE`).
@_silgen_name("syncfs")
private func linuxSyncfs(_ fd: Int32) -> Int32

/// glibc's `renameat2(2)` (Linux 3.15, glibc 2.28), which Swift's Glibc module leaves out.
@_silgen_name("renameat2")
private func linuxRenameat2(_ oldDirectory: Int32, _ old: UnsafePointer<CChar>, _ newDirectory: Int32, _ new: UnsafePointer<CChar>, _ flags: UInt32) -> Int32
