import ThermoshardClient

/// How a subcommand reaches the coordinator: the ``ThermoshardClient/Endpoint`` its address
/// flag and `--connect-timeout` name (connecting, waiting and the messages live in the client
/// library).
extension Endpoint {
    init(url: String, flag: String, connectTimeout: DurationArgument) {
        self.init(url: url, flag: flag, connectTimeout: connectTimeout.duration)
    }
}
