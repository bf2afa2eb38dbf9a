/// A span of time in nanoseconds.
///
/// Thread-safe (a value). Its factories and arithmetic saturate at `Int64.max` (and
/// `Int64.min`) nanoseconds, about 292 years, rather than trap: `.seconds(.max)` is "for ever".
///
/// ```swift
/// loop.scheduleTask(in: .milliseconds(250)) { print("later") }
/// ```
public struct TimeAmount: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func nanoseconds(_ value: Int64) -> TimeAmount { TimeAmount(nanoseconds: value) }
    public static func microseconds(_ value: Int64) -> TimeAmount { .nanoseconds(Saturating.product(value, 1000)) }
    public static func milliseconds(_ value: Int64) -> TimeAmount {
        .nanoseconds(Saturating.product(value, 1_000_000))
    }
    public static func seconds(_ value: Int64) -> TimeAmount { .nanoseconds(Saturating.product(value, 1_000_000_000)) }
    public static let zero = TimeAmount(nanoseconds: 0)

    public static func < (lhs: TimeAmount, rhs: TimeAmount) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    public static func + (lhs: TimeAmount, rhs: TimeAmount) -> TimeAmount {
        .nanoseconds(Saturating.sum(lhs.nanoseconds, rhs.nanoseconds))
    }
    public static func - (lhs: TimeAmount, rhs: TimeAmount) -> TimeAmount {
        .nanoseconds(Saturating.difference(lhs.nanoseconds, rhs.nanoseconds))
    }
    public static func * (lhs: TimeAmount, rhs: Int64) -> TimeAmount {
        .nanoseconds(Saturating.product(lhs.nanoseconds, rhs))
    }

    /// Whole `unit`s, rounded up (for system calls that take milliseconds or seconds: a
    /// span must not shrink to an earlier wake-up or to "0: the default"); 0 or less stays
    /// as it is divided.
    package func roundedUp(to unit: Int64) -> Int64 {
        guard self.nanoseconds > 0 else { return self.nanoseconds / unit }
        return (self.nanoseconds - 1) / unit + 1
    }

    /// In the largest unit that keeps a whole part (s, ms, µs, ns), with at most three
    /// decimals: `1.25 ms`, `420 µs`, `10 s` — readable in logs and statistics.
    public var description: String {
        let magnitude = self.nanoseconds.magnitude
        let (unit, scale): (String, UInt64) =
            magnitude >= 1_000_000_000
            ? ("s", 1_000_000_000)
            : magnitude >= 1_000_000
                ? ("ms", 1_000_000)
                : magnitude >= 1_000 ? ("µs", 1_000) : ("ns", 1)
        // Rounded to thousandths of the unit in integers, so no floating-point digits leak in.
        var whole = magnitude / scale
        var fraction = (magnitude % scale * 1000 + scale / 2) / scale
        if fraction == 1000 { (whole, fraction) = (whole + 1, 0) }
        var text = "\(whole)"
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 3 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return (self.nanoseconds < 0 ? "-" : "") + text + " " + unit
    }
}

/// A point on the monotonic clock.
///
/// Thread-safe (a value). Deadlines never go backwards with wall-clock changes.
public struct Deadline: Hashable, Comparable, Sendable {
    public let uptimeNanoseconds: UInt64

    public init(uptimeNanoseconds: UInt64) { self.uptimeNanoseconds = uptimeNanoseconds }

    /// The current time of the monotonic clock.
    public static func now() -> Deadline { Deadline(uptimeNanoseconds: MonotonicClock.nanoseconds()) }

    public static let distantPast = Deadline(uptimeNanoseconds: 0)
    public static let distantFuture = Deadline(uptimeNanoseconds: UInt64(Int64.max))

    public static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.uptimeNanoseconds < rhs.uptimeNanoseconds }

    /// Saturates at `distantPast` and `distantFuture`: `.now() + .nanoseconds(.max)` is
    /// `distantFuture` (a wrapping sum made it `distantPast`, "already due").
    public static func + (lhs: Deadline, rhs: TimeAmount) -> Deadline {
        let sum = Saturating.sum(Int64(clamping: lhs.uptimeNanoseconds), rhs.nanoseconds)
        return Deadline(uptimeNanoseconds: UInt64(max(0, sum)))
    }

    public static func - (lhs: Deadline, rhs: TimeAmount) -> Deadline {
        let difference = Saturating.difference(Int64(clamping: lhs.uptimeNanoseconds), rhs.nanoseconds)
        return Deadline(uptimeNanoseconds: UInt64(max(0, difference)))
    }

    public static func - (lhs: Deadline, rhs: Deadline) -> TimeAmount {
        .nanoseconds(Int64(clamping: lhs.uptimeNanoseconds) &- Int64(clamping: rhs.uptimeNanoseconds))
    }
}

/// Arithmetic that stops at the bounds of `Int64` instead of trapping or wrapping.
enum Saturating {
    @inline(__always) static func sum(_ a: Int64, _ b: Int64) -> Int64 {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b < 0 ? .min : .max) : result
    }

    @inline(__always) static func difference(_ a: Int64, _ b: Int64) -> Int64 {
        let (result, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? (b < 0 ? .max : .min) : result
    }

    @inline(__always) static func product(_ a: Int64, _ b: Int64) -> Int64 {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? ((a < 0) != (b < 0) ? .min : .max) : result
    }
}
