import Glibc

/// The monotonic clock the event loops use for timers and deadlines.
enum MonotonicClock {
    /// Nanoseconds since an arbitrary point (boot); never goes backwards.
    @inline(__always)
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
