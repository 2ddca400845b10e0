public import Control
public import NNG
public import Wire

/// A subscription to the coordinator's live command feed (PUB/SUB: best effort, a slow
/// subscriber loses messages; the admin command log is the record that loses nothing). The
/// coordinator's `--feed` says the format (docs/protocol.md): `text`, a message per command
/// (the sensor ID in decimal, a space, the command's JSON), or `binary`, batches of commands
/// (``FeedBatch``). ``nextEvents()`` reads either.
///
/// ```swift
/// let feed = try await FeedSubscriber(Endpoint(url: "tcp://127.0.0.1:7601", flag: "--publish"))
/// while true { for event in try await feed.nextEvents() { print(event.sensor, event.action) } }
/// ```
public final class FeedSubscriber: Sendable {
    private let socket: Socket
    /// The one sensor subscribed to, if any: binary batches carry every sensor and are filtered here.
    public let sensor: SensorID?

    /// Subscribes to every sensor's commands, or only `sensor`'s, and waits for the connection
    /// (``Endpoint/connect(_:)``). `receiveBuffer` sets how many messages nng queues for a
    /// reader that falls behind.
    public init(_ endpoint: Endpoint, sensor: SensorID? = nil, receiveBuffer: Int? = nil) async throws(ClientError) {
        self.sensor = sensor
        socket = try await endpoint.connected(.sub) { socket throws(NNGError) in
            if let receiveBuffer { try socket.setReceiveBuffer(receiveBuffer) }
            if let sensor {
                // The sensor's text messages, and every binary batch (filtered on receipt).
                try socket.subscribe(to: CommandEvent.subscriptionPrefix(for: sensor))
                try socket.subscribe(to: FeedBatch.magic)
            } else {
                try socket.subscribe(to: [])
            }
        }
    }

    /// The commands of the next message, text or binary (only the subscribed sensor's); empty
    /// for a message that does not decode or holds none of it.
    public func nextEvents() async throws(NNGError) -> [CommandEvent] {
        let events = (try? FeedBatch.events(in: try await next())) ?? []
        guard let sensor else { return events }
        return events.filter { $0.sensor == sensor }
    }

    /// The next message as it came.
    public func next() async throws(NNGError) -> [UInt8] {
        try await socket.receive().bytes
    }

    /// The next message, waiting on the calling thread: for a reader on a dedicated thread
    /// that must keep up with a fast feed (an async receive costs two thread hand-offs).
    /// Throws `.closed` once ``close()`` was called.
    public func nextBlocking() throws(NNGError) -> [UInt8] {
        try socket.receiveBlocking().bytes
    }

    /// Closes the subscription, off the cooperative pool; a blocked ``nextBlocking()`` returns.
    public func close() async { await socket.close() }
}
