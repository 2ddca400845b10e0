public import Wire

/// A request that failed: the coordinator could not be reached, did not answer, or refused it.
/// Its description is the sentence a person reads (the command line prints it as `error: ...`).
public struct ClientError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The coordinator's refusal code, when it refused the request.
    public let code: RefusalCode?

    public init(_ description: String, code: RefusalCode? = nil) {
        self.description = description
        self.code = code
    }
}
