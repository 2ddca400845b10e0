import Control
public import Wire

/// What the fleet shows of control quality: a sample of heaters with their band and heater,
/// and how much of the fleet is out of its band.
extension Fleet {
    /// `count` heater indices spread evenly over the fleet.
    public func sampleIndices(_ count: Int) -> [Int] {
        let n = min(count, heaters.count)
        guard n > 0 else { return [] }
        return (0..<n).map { $0 * heaters.count / n }
    }

    public func samples(_ indices: [Int]) -> [ControlReport.Sample] {
        indices.map { index in
            ControlReport.Sample(sensor: UInt64(index + 1), temperature: (heaters[index].temperature * 100).rounded() / 100,
                                 desired: desired[index], up: 1, down: 1, heating: heaters[index].heating)
        }
    }

    /// The fraction of heaters outside `desired - 1 ... desired + 1` now.
    public var outOfBandFraction: Double {
        guard !heaters.isEmpty else { return 0 }
        let out = zip(heaters, desired).filter { abs($0.0.temperature - $0.1) > 1 }.count
        return Double(out) / Double(heaters.count)
    }
}
