import Channels

extension TimeAmount {
    /// A command-line option's seconds as a span. Past about 292 years it is that long
    /// (`--duration 1e300` or `inf`: until interrupted), never a trap; NaN is zero (the
    /// commands' checks refuse it before).
    init(seconds: Double) {
        let nanoseconds = seconds * 1e9
        if nanoseconds.isNaN {
            self = .zero
        } else if nanoseconds >= Double(Int64.max) {
            self = .nanoseconds(.max)
        } else if nanoseconds <= Double(Int64.min) {
            self = .nanoseconds(.min)
        } else {
            self = .nanoseconds(Int64(nanoseconds))
        }
    }
}
