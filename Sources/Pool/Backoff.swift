public import Channels

/// Exponential reconnect backoff with jitter: `initial × multiplierⁿ`, capped, ± `jitter`.
///
/// Thread-safe (a value). Pure: the random source is passed in, so tests check exact bounds.
///
/// ```swift
/// let backoff = Backoff()               // 100 ms × 1.25ⁿ, at most 60 s, ±3 %
/// var random = SystemRandomNumberGenerator()
/// let wait = backoff.delay(afterFailures: 3, using: &random)   // about 195 ms
/// ```
public struct Backoff: Sendable, Equatable {
    public var initial: TimeAmount
    public var multiplier: Double
    public var maximum: TimeAmount
    /// The relative spread, e.g. 0.03 for ±3 %.
    public var jitter: Double

    public init(
        initial: TimeAmount = .milliseconds(100),
        multiplier: Double = 1.25,
        maximum: TimeAmount = .seconds(60),
        jitter: Double = 0.03
    ) {
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The wait after `failures` consecutive connect failures (1 = the first failure).
    public func delay<R: RandomNumberGenerator>(afterFailures failures: Int, using random: inout R) -> TimeAmount {
        let exponent = Double(max(0, failures - 1))
        // Computed in Double and capped before converting back, so a long outage cannot overflow.
        let raw = min(
            Double(self.initial.nanoseconds) * pow(self.multiplier, exponent), Double(self.maximum.nanoseconds))
        let spread =
            self.jitter > 0 && self.jitter.isFinite ? Double.random(in: -self.jitter...self.jitter, using: &random) : 0
        // A `maximum` of `.nanoseconds(.max)` ("no cap") puts `raw` at 2^63, which no Int64
        // holds: saturate rather than trap.
        let nanoseconds = max(0, raw * (1 + spread))
        return .nanoseconds(nanoseconds < Double(Int64.max) ? Int64(nanoseconds) : .max)
    }
}

// Integer exponent without Foundation: repeated squaring.
private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var factor = base
    var remaining = Int(min(exponent, 4096))
    while remaining > 0 {
        if remaining & 1 == 1 { result *= factor }
        factor *= factor
        remaining >>= 1
    }
    return result
}
