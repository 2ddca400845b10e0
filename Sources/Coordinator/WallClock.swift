import Glibc

/// The wall clock, for numbers that must grow across restarts (incarnations).
enum WallClock {
    static func microsecondsSinceEpoch() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec / 1000)
    }
}
