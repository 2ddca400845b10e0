/// Maps sensor IDs to partitions: `partition = mix64(sensor) % count`.
///
/// `mix64` is the SplitMix64 output function (Steele, Lea, Flood 2014): a fixed sequence of
/// 64-bit additions, shifts, xors and multiplications, so the result is the same on every
/// machine, architecture and version. Test vectors live in `docs/protocol.md` and the tests.
public struct Partitioner: Sendable, Hashable {
    public let count: Int

    public init(count: Int) {
        precondition(count > 0, "a cluster has at least one partition")
        self.count = count
    }

    @inlinable
    public func partition(of sensor: SensorID) -> Int {
        Int(Self.mix64(sensor) % UInt64(count))
    }

    @inlinable
    public static func mix64(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
