import Glibc

/// The CPU time this process has used, user and system, all threads (`getrusage`).
///
/// Thread-safe. For measuring what a workload costs the machine rather than how long it
/// takes: read it before and after, divide the difference by the work done.
///
/// ```swift
/// let before = ProcessCPUClock.now()
/// runWorkload()
/// let microsecondsPerOperation = Double((ProcessCPUClock.now() - before).nanoseconds) / 1e3 / Double(operations)
/// ```
package enum ProcessCPUClock {
    /// User plus system CPU time used so far.
    package static func now() -> TimeAmount {
        var usage = rusage()
        // getrusage(RUSAGE_SELF) fails only for a bad pointer or `who`, neither possible here.
        _ = getrusage(RUSAGE_SELF.rawValue, &usage)
        func nanoseconds(_ time: timeval) -> Int64 { Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_usec) * 1000 }
        return .nanoseconds(nanoseconds(usage.ru_utime) + nanoseconds(usage.ru_stime))
    }
}
