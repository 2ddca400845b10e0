import Control
import Load
import Testing

@Suite("Lane")
struct LaneTests {
    @Test func lanesSplitTheSensorsAndGoRoundRobin() {
        var lane = Lane(index: 1, of: 3, sensors: 8)
        #expect(lane.count == 3)  // sensors 2, 5, 8
        let readings = (0..<7).map { _ in lane.next() }
        #expect(readings.map(\.sensor) == [2, 5, 8, 2, 5, 8, 2])
        #expect(readings.map(\.reading) == [0, 0, 0, 1, 1, 1, 2])
        #expect((0..<3).map { Lane(index: $0, of: 3, sensors: 8).count }.reduce(0, +) == 8)
    }

    @Test func readingsAlternateTheHeater() {
        #expect(Lane.temperature(reading: 0) == 10 && Lane.action(reading: 0) == .on)
        #expect(Lane.temperature(reading: 1) == 30 && Lane.action(reading: 1) == .off)
        #expect(Lane.temperature(reading: 4) == 10 && Lane.action(reading: 5) == .off)
    }

    @Test func jsonRequestsAreArraysOfReadings() {
        var lane = Lane(index: 0, of: 1, sensors: 2)
        let body = lane.request(3, format: .json)
        #expect(String(decoding: body, as: UTF8.self)
            == #"[{"sensor":1,"temperature":10.0},{"sensor":2,"temperature":10.0},{"sensor":1,"temperature":30.0}]"#)
        #expect(lane.next() == (sensor: 2, reading: 1))
    }
}
