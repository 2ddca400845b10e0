import CNNG

/// A connection between two sockets, as nng names it.
public struct Pipe: Sendable, Hashable {
    public let id: UInt32
    public init(id: UInt32) { self.id = id }
}

/// An owned nng message. Move-only: it is freed when it goes out of scope, unless a successful
/// send consumed it (nng owns a message only once a send succeeds).
public struct Message: ~Copyable, @unchecked Sendable {
    private let pointer: OpaquePointer

    /// Takes ownership of a message nng handed over.
    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    public init(capacity: Int = 0) throws(NNGError) {
        var raw: OpaquePointer?
        try NNGError.check(nng_msg_alloc(&raw, 0))
        pointer = raw!
        if capacity > 0 { nng_msg_reserve(pointer, capacity) }
    }

    public init(copying bytes: UnsafeRawBufferPointer) throws(NNGError) {
        var raw: OpaquePointer?
        try NNGError.check(nng_msg_alloc(&raw, bytes.count))
        if let base = bytes.baseAddress, bytes.count > 0 {
            nng_msg_body(raw).copyMemory(from: base, byteCount: bytes.count)
        }
        pointer = raw!
    }

    public init(_ bytes: [UInt8]) throws(NNGError) {
        var raw: OpaquePointer?
        try NNGError.check(nng_msg_alloc(&raw, bytes.count))
        pointer = raw!
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { source in
                nng_msg_body(pointer).copyMemory(from: source.baseAddress!, byteCount: source.count)
            }
        }
    }

    deinit { nng_msg_free(pointer) }

    /// Hands the message to nng (or to a caller that will); it is no longer freed here.
    consuming func take() -> OpaquePointer {
        let raw = pointer
        discard self
        return raw
    }

    public var count: Int { nng_msg_len(pointer) }

    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: nng_msg_body(pointer), count: nng_msg_len(pointer)))
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(NNGError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try NNGError.check(nng_msg_append(pointer, base, bytes.count))
    }

    public mutating func append(_ bytes: [UInt8]) throws(NNGError) {
        let rv = bytes.withUnsafeBytes { raw in
            raw.count > 0 ? nng_msg_append(pointer, raw.baseAddress!, raw.count) : 0
        }
        try NNGError.check(rv)
    }

    /// A copy of the body.
    public var bytes: [UInt8] {
        let count = nng_msg_len(pointer)
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.baseAddress!.initialize(from: nng_msg_body(pointer).assumingMemoryBound(to: UInt8.self), count: count)
            initialized = count
        }
    }

    var rawPipe: nng_pipe { nng_msg_get_pipe(pointer) }

    /// The pipe a received message came from, or the one a message should go to.
    public var pipe: Pipe? {
        get {
            let id = nng_pipe_id(nng_msg_get_pipe(pointer))
            return id > 0 ? Pipe(id: UInt32(id)) : nil
        }
        set {
            nng_msg_set_pipe(pointer, nng_pipe(id: newValue?.id ?? 0))
        }
    }
}
