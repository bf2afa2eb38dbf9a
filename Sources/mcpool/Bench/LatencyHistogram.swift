/// Latencies in nanoseconds, kept HDR-style: buckets of powers of two, each split into 128
/// linear sub-buckets, so every recorded value is known to within 1 % at any magnitude, in a
/// fixed 64 KiB of counters.
///
/// Thread-safe as a value; each bench caller keeps its own and they are merged at the end.
///
/// ```swift
/// var histogram = LatencyHistogram()
/// histogram.record(nanoseconds: 42_000)
/// histogram.percentile(99)   // ~42_000
/// ```
struct LatencyHistogram: Sendable {
    private static let subBucketBits = 7
    private static let subBuckets = 1 << subBucketBits
    private var counts = [UInt64](repeating: 0, count: 64 * LatencyHistogram.subBuckets)
    private(set) var count: UInt64 = 0
    private(set) var maximum: UInt64 = 0
    private(set) var total: UInt64 = 0

    mutating func record(nanoseconds value: UInt64) {
        self.counts[Self.index(of: value)] += 1
        self.count += 1
        self.total &+= value
        self.maximum = max(self.maximum, value)
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in other.counts.indices where other.counts[index] > 0 { self.counts[index] += other.counts[index] }
        self.count += other.count
        self.total &+= other.total
        self.maximum = max(self.maximum, other.maximum)
    }

    /// The smallest recorded value (to bucket precision) at or below which `percent` of the
    /// values lie; 0 when nothing was recorded.
    func percentile(_ percent: Double) -> UInt64 {
        guard self.count > 0 else { return 0 }
        let rank = max(1, UInt64((percent / 100 * Double(self.count)).rounded(.up)))
        var seen: UInt64 = 0
        for index in self.counts.indices {
            seen += self.counts[index]
            if seen >= rank { return min(Self.upperBound(of: index), self.maximum) }
        }
        return self.maximum
    }

    var mean: Double { self.count == 0 ? 0 : Double(self.total) / Double(self.count) }

    /// Values below 128 have a bucket each; above, the top 7 bits after the leading one pick
    /// the sub-bucket of the value's power of two.
    private static func index(of value: UInt64) -> Int {
        guard value >= UInt64(Self.subBuckets) else { return Int(value) }
        let magnitude = 63 - value.leadingZeroBitCount  // >= 7
        let shift = magnitude - Self.subBucketBits
        let sub = Int((value >> UInt64(shift)) & UInt64(Self.subBuckets - 1))
        return (shift + 1) * Self.subBuckets + sub
    }

    private static func upperBound(of index: Int) -> UInt64 {
        guard index >= Self.subBuckets else { return UInt64(index) }
        let shift = index / Self.subBuckets - 1
        let sub = UInt64(index % Self.subBuckets)
        return ((UInt64(Self.subBuckets) | sub) << UInt64(shift)) + (UInt64(1) << UInt64(shift)) - 1
    }
}
