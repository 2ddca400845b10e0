import Control
import Load
import Testing

@Suite("Latency tracker")
struct LatencyTrackerTests {
    /// Microseconds as the tracker's nanosecond clock.
    func us(_ microseconds: Int64) -> Int64 { microseconds * 1000 }

    @Test func commandsBeforeTheFirstOnAnswerThePrimingReading() {
        var tracker = LatencyTracker(sensors: 2)
        tracker.mark(sensor: 1, reading: 0, at: us(0))
        tracker.command(sensor: 1, action: .off, at: us(10))
        #expect(tracker.commands == 0 && tracker.histogram.totalCount == 0)
        tracker.command(sensor: 1, action: .on, at: us(500))
        #expect(tracker.commands == 1 && tracker.lastCommandAt == us(500))
        #expect(tracker.histogram.totalCount == 1 && tracker.histogram.maxRecorded == 500)
    }

    @Test func oneSampleInFlightPerSensorAndARetryRestampsIt() {
        var tracker = LatencyTracker(sensors: 1)
        tracker.mark(sensor: 1, reading: 0, at: us(100))
        tracker.mark(sensor: 1, reading: 1, at: us(200))  // in flight already: not sampled
        tracker.mark(sensor: 1, reading: 0, at: us(300))  // the same request sent again
        tracker.command(sensor: 1, action: .on, at: us(1300))
        tracker.command(sensor: 1, action: .off, at: us(1400))
        #expect(tracker.commands == 2)
        #expect(tracker.histogram.totalCount == 1 && tracker.histogram.maxRecorded == 1000)
        // The next sample starts with the next mark.
        tracker.mark(sensor: 1, reading: 2, at: us(2000))
        tracker.command(sensor: 1, action: .on, at: us(2250))
        #expect(tracker.histogram.totalCount == 2 && tracker.histogram.minNonZero == 250)
    }

    @Test func aLostCommandIsSkippedAndItsSampleDropped() {
        var tracker = LatencyTracker(sensors: 1)
        tracker.command(sensor: 1, action: .on, at: us(0))  // reading 0
        tracker.mark(sensor: 1, reading: 1, at: us(100))
        // Reading 1's "off" was lost: the next "on" answers reading 2.
        tracker.command(sensor: 1, action: .on, at: us(200))
        #expect(tracker.resynchronized == 1 && tracker.commands == 2 && tracker.histogram.totalCount == 0)
        tracker.mark(sensor: 1, reading: 3, at: us(300))
        tracker.command(sensor: 1, action: .off, at: us(700))
        #expect(tracker.resynchronized == 1 && tracker.histogram.maxRecorded == 400)
    }

    @Test func sensorsAreMatchedIndependently() {
        var tracker = LatencyTracker(sensors: 3)
        for sensor in 1...3 { tracker.mark(sensor: sensor, reading: 0, at: us(Int64(sensor) * 10)) }
        tracker.command(sensor: 3, action: .on, at: us(1030))
        tracker.command(sensor: 1, action: .on, at: us(1010))
        #expect(tracker.histogram.totalCount == 2 && tracker.histogram.minNonZero == 1000 && tracker.histogram.maxRecorded == 1000)
        #expect(tracker.lastCommandAt == us(1010))
    }

    @Test func feedGapsCountMissingOffsets() {
        var tracker = LatencyTracker(sensors: 1)
        tracker.observe(offset: nil)
        tracker.observe(offset: 5)
        tracker.observe(offset: 6)
        #expect(tracker.feedGaps == 0)
        tracker.observe(offset: 9)
        #expect(tracker.feedGaps == 2)
        tracker.observe(offset: 7)  // late, not a new gap
        tracker.observe(offset: 10)
        #expect(tracker.feedGaps == 2)
    }

    @Test func latenciesAboveTheHighestAreClamped() {
        var tracker = LatencyTracker(sensors: 1)
        tracker.mark(sensor: 1, reading: 0, at: 0)
        tracker.command(sensor: 1, action: .on, at: Int64(LatencyTracker.highest + 5_000_000) * 1000)
        #expect(tracker.histogram.totalCount == 1)
        #expect(tracker.histogram.maxRecorded >= LatencyTracker.highest * 999 / 1000)
        #expect(tracker.histogram.maxRecorded <= LatencyTracker.highest * 1001 / 1000)
    }
}
