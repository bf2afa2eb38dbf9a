import Channels
import Foundation
import Histogram
import Pool

/// The end of a bench run, as a table for people or one JSON object for scripts.
struct BenchReport {
    let tally: BenchTally
    let elapsed: TimeAmount
    /// Ended early by Ctrl-C.
    var stoppedEarly = false
    /// The process's CPU time during the measured window; nil when an embedded server ran in
    /// the same process (its CPU would be counted as the client's).
    let cpuTime: TimeAmount?
    let pool: PoolStatistics.Loop
    let server: String

    private var seconds: Double { Double(self.elapsed.nanoseconds) / 1e9 }
    private var opsPerSecond: Double { self.seconds > 0 ? Double(self.tally.operations) / self.seconds : 0 }
    private func micros(_ percent: Double) -> Double { Double(self.tally.latency.valueAtPercentile(percent)) / 1000 }
    /// Client CPU microseconds per operation (all threads, user and system).
    private var cpuMicrosPerOperation: Double? {
        guard let cpuTime = self.cpuTime, self.tally.operations > 0 else { return nil }
        return Double(cpuTime.nanoseconds) / 1000 / Double(self.tally.operations)
    }

    func table() -> String {
        let latency = self.tally.latency
        var lines = [
            "  ops/s        \(Int(self.opsPerSecond.rounded()))",
            "  succeeded    \(self.tally.operations) in \(oneDecimal(self.seconds)) s\(self.stoppedEarly ? ", stopped early by Ctrl-C" : "") (\(self.tally.gets) gets, \(self.tally.hits) hits; \(self.tally.sets) sets)",
            "  latency µs   p50 \(oneDecimal(self.micros(50)))  p90 \(oneDecimal(self.micros(90)))  p99 \(oneDecimal(self.micros(99)))  p99.9 \(oneDecimal(self.micros(99.9)))  max \(oneDecimal(Double(latency.max) / 1000))",
            "  errors       \(self.tally.errorCount)",
        ]
        if let cpu = self.cpuMicrosPerOperation {
            lines.insert("  client CPU   \(twoDecimals(cpu)) µs per operation (user + system, all threads)", at: 3)
        }
        for (kind, count) in self.tally.errors.sorted(by: { $0.value > $1.value }) {
            lines.append("    \(kind): \(count)  (first: \(self.tally.errorExamples[kind] ?? "?"))")
        }
        lines.append(
            "  pool         \(self.pool.created) connections made, \(self.pool.closed) closed, \(self.pool.connectFailures) connect failures, "
                + "\(self.pool.waitedLeases) leases waited (max \(oneDecimal(Double(self.pool.maxWait.nanoseconds) / 1e6)) ms)"
        )
        lines.append("  machine      \(BenchMachine.description)")
        return lines.joined(separator: "\n")
    }

    /// The latency histogram in HdrHistogram's percentile-distribution text (an `.hgrm` file,
    /// in milliseconds, as wrk2 and memtier_benchmark write them), for HdrHistogram's plotter
    /// or `mcpool plot`.
    func percentileDistribution() -> String {
        var text = ""
        self.tally.latency.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1e6)
        return text
    }

    func json() -> String {
        var object: [String: Any] = [
            "server": self.server,
            "machine": BenchMachine.description,
            "ops_per_second": self.opsPerSecond.rounded(),
            "operations": self.tally.operations,
            "gets": self.tally.gets,
            "hits": self.tally.hits,
            "sets": self.tally.sets,
            "p50_us": self.micros(50),
            "p90_us": self.micros(90),
            "p99_us": self.micros(99),
            "p999_us": self.micros(99.9),
            "max_us": Double(self.tally.latency.max) / 1000,
            "errors": self.tally.errorCount,
            "errors_by_kind": self.tally.errors,
            "duration_s": self.seconds,
            "stopped_early": self.stoppedEarly,
            "pool": [
                "created": self.pool.created, "closed": self.pool.closed, "connect_failures": self.pool.connectFailures,
                "waited_leases": self.pool.waitedLeases,
            ],
        ]
        if let cpu = self.cpuMicrosPerOperation { object["cpu_us_per_op"] = (cpu * 1000).rounded() / 1000 }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
