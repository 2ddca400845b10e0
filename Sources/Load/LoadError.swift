/// Why a load run stopped: the cluster is not in a state to measure, or refused a request.
/// Its description is the sentence a person reads (the command line prints it as `error: ...`).
public struct LoadError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The outcome of `body`, so that cleanup that must be awaited (closing sockets off the
/// cooperative pool) runs after it whether it threw or not.
func outcome<Success>(_ body: () async throws -> Success) async -> Result<Success, any Error> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
