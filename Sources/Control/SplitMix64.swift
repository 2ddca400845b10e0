/// A small, fast, seedable random number generator (SplitMix64, Steele, Lea, Flood 2014): the
/// same seed gives the same sequence on every machine, so a simulated fleet or a failing test
/// seed reproduces. Its output function is ``Partitioner/mix64(_:)``. Not for secrets.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Partitioner.mix64(state &- 0x9E37_79B9_7F4A_7C15)
    }
}
