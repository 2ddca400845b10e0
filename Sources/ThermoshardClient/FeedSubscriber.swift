public import Control
public import NNG
public import Wire

/// A subscription to the coordinator's live command feed (PUB/SUB: best effort, a slow
/// subscriber loses messages; the admin command log is the record that loses nothing). Each
/// message is the sensor ID in decimal, a space, and the command's JSON (docs/protocol.md).
///
/// ```swift
/// let feed = try await FeedSubscriber(Endpoint(url: "tcp://127.0.0.1:7601", flag: "--publish"))
/// while let event = try await feed.nextEvent() { print(event.sensor, event.action) }
/// ```
public final class FeedSubscriber: Sendable {
    private let socket: Socket

    /// Subscribes to every sensor's commands, or only `sensor`'s, and waits for the connection
    /// (``Endpoint/connect(_:)``). `receiveBuffer` sets how many messages nng queues for a
    /// reader that falls behind.
    public init(_ endpoint: Endpoint, sensor: SensorID? = nil, receiveBuffer: Int? = nil) async throws(ClientError) {
        socket = try await endpoint.connected(.sub) { socket throws(NNGError) in
            if let receiveBuffer { try socket.setReceiveBuffer(receiveBuffer) }
            try socket.subscribe(to: sensor.map { Array("\($0) ".utf8) } ?? [])
        }
    }

    /// The next message as it came.
    public func next() async throws(NNGError) -> [UInt8] {
        try await socket.receive().bytes
    }

    /// The next message's JSON (without the sensor prefix); nil for a message without one.
    public func nextJSON() async throws(NNGError) -> ArraySlice<UInt8>? {
        Self.json(of: try await next())
    }

    /// The next message decoded; nil for one that does not decode.
    public func nextEvent() async throws(NNGError) -> CommandEvent? {
        try? CommandEvent.decodeFeedMessage(try await next())
    }

    /// The next message, waiting on the calling thread: for a reader on a dedicated thread
    /// that must keep up with a fast feed (an async receive costs two thread hand-offs).
    /// Throws `.closed` once ``close()`` was called.
    public func nextBlocking() throws(NNGError) -> [UInt8] {
        try socket.receiveBlocking().bytes
    }

    /// Closes the subscription, off the cooperative pool; a blocked ``nextBlocking()`` returns.
    public func close() async { await socket.close() }

    /// A feed message's JSON: what follows the first space.
    public static func json(of message: [UInt8]) -> ArraySlice<UInt8>? {
        message.firstIndex(of: UInt8(ascii: " ")).map { message[($0 + 1)...] }
    }
}
