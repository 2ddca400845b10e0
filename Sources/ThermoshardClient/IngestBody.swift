public import Control
import Wire

/// Names a request for idempotent retries: the coordinator answers a producer's repeated
/// `seq` with the reply it kept, and refuses a lower one as `stale` (docs/protocol.md).
public struct ProducerEnvelope: Sendable, Hashable {
    public var producer: String
    public var seq: UInt64

    public init(producer: String, seq: UInt64) {
        self.producer = producer
        self.seq = seq
    }
}

/// Ingest request bodies (what ``Wire/IngestDecoder`` reads): binary batches and JSON arrays or envelopes.
public enum IngestBody {
    /// `items` as one binary batch, in an envelope if given.
    public static func binary(_ items: some Collection<Item>, envelope: ProducerEnvelope? = nil) -> [UInt8] {
        var encoder = BinaryBatchEncoder(producer: envelope?.producer, seq: envelope?.seq, capacity: items.count * BinaryBatch.settingSize + 16 + (envelope?.producer.utf8.count ?? 0))
        encoder.append(contentsOf: items)
        return encoder.finish()
    }

    /// JSON items (each one object's text) as an array, or as an envelope
    /// `{"producer":"ID","seq":N,"items":[...]}` if given.
    public static func json(_ items: some Collection<String>, envelope: ProducerEnvelope? = nil) -> [UInt8] {
        var bytes: [UInt8]
        if let envelope {
            var json = JSONWriter(capacity: 64 + items.reduce(0) { $0 + $1.utf8.count + 1 })
            json.beginObject()
            json.key("producer"); json.value(envelope.producer)
            json.key("seq"); json.value(envelope.seq)
            json.key("items")
            bytes = json.bytes
        } else {
            bytes = []
        }
        bytes.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: item.utf8)
        }
        bytes.append(UInt8(ascii: "]"))
        if envelope != nil { bytes.append(UInt8(ascii: "}")) }
        return bytes
    }
}
