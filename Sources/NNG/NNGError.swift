import CNNG

/// An error from nng, with its code and nng's own text.
public struct NNGError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: Int32

    public init(code: Int32) { self.code = code }

    init(_ value: nng_errno_enum) { code = Int32(value.rawValue) }

    public var description: String { String(cString: nng_strerror(code)) }

    public static let timedOut = NNGError(NNG_ETIMEDOUT)
    public static let closed = NNGError(NNG_ECLOSED)
    public static let canceled = NNGError(NNG_ECANCELED)
    public static let connectionRefused = NNGError(NNG_ECONNREFUSED)
    public static let messageTooLarge = NNGError(NNG_EMSGSIZE)
    public static let tryAgain = NNGError(NNG_EAGAIN)
    public static let addressInUse = NNGError(NNG_EADDRINUSE)
    public static let noMemory = NNGError(NNG_ENOMEM)

    /// Throws for a non-zero nng return value.
    @inline(__always)
    static func check(_ rv: Int32) throws(NNGError) {
        if rv != 0 { throw NNGError(code: rv) }
    }
}
