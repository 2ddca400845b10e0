import Control
import Load
import Testing

@Suite("Fleet")
struct FleetTests {
    @Test func aSeedGivesTheSameFleetEveryTime() {
        var a = Fleet(count: 5, seed: 7)
        var b = Fleet(count: 5, seed: 7)
        #expect(a.heaters == b.heaters)
        #expect(a.step(count: 12, simulatedSeconds: 700) == b.step(count: 12, simulatedSeconds: 700))
        #expect(a.desired == b.desired)
        #expect(Fleet(count: 5, seed: 8).heaters != a.heaters)
        #expect(Fleet(count: 50, seed: 9).heaters.allSatisfy { (39...45).contains($0.temperature) && !$0.heating })
    }

    @Test func readingsGoRoundRobinAndSettingsChangeEveryTenSimulatedMinutes() {
        var fleet = Fleet(count: 3, seed: 1)
        #expect(fleet.settings() == (1...3).map { .setting(sensor: $0, Setting(unchecked: 45, up: 1, down: 1)) })
        let (readings, unchanged) = fleet.step(count: 4, simulatedSeconds: 599)
        #expect(unchanged.isEmpty)
        #expect(readings.map(\.sensor) == [1, 2, 3, 1] && fleet.next == 1)
        let (_, changed) = fleet.step(count: 1, simulatedSeconds: 1)
        #expect(changed.map(\.sensor) == [1, 2, 3])
        #expect(fleet.desired.allSatisfy { (40...49).contains($0) })
        #expect(fleet.nextSettingChange == 1200)
    }

    @Test func heatersFollowTheirCommands() {
        var fleet = Fleet(count: 2, seed: 3)
        fleet.follow(sensor: 2, action: .on)
        fleet.follow(sensor: 0, action: .on)
        fleet.follow(sensor: 3, action: .on)
        #expect(fleet.heaters.map(\.heating) == [false, true])
        #expect(fleet.stats().heating == 1)
        let before = fleet.heaters[1].temperature
        _ = fleet.step(count: 2, simulatedSeconds: 60)
        #expect(fleet.heaters[1].temperature > before)
    }

    @Test func statsAreTheMeanDistanceFromDesired() {
        var fleet = Fleet(count: 2, seed: 3)
        fleet.heaters = [HeaterModel(temperature: 44), HeaterModel(temperature: 48, heating: true)]
        let stats = fleet.stats()
        #expect(stats.heating == 1 && stats.meanError == 2)
    }

    @Test func statisticsLines() {
        let stats = SimulationStats(elapsedSeconds: 3, readings: 3000, rejected: 1, commands: 42, heating: 7, sensors: 100, meanError: 1.256)
        #expect(stats.text() == "t=3s readings 3000 commands 42 heating 7/100 mean |temp - desired| 1.26")
        #expect(stats.json() == #"{"elapsed_s":3.0,"readings":3000,"rejected":1,"commands":42,"heating":7,"mean_error":1.256}"#)
    }
}
