import Channels
import CoreMetrics
import Metrics

/// Reports an embedded server's counters through swift-metrics every `interval`: what
/// `stats` reports as `memcached.<stat>` (gauges for what goes up and down, counters for
/// what only grows), and each loop's `memcached.loop.curr_connections`,
/// `memcached.loop.connections` and `memcached.loop.commands` with the loop as a dimension.
///
/// Thread-safe: one report runs at a time (on loop 0); the last values reported sit behind
/// a lock, so counters are incremented by what changed since. Nothing is done per request:
/// the server's own counters are read once per interval.
final class ServerMetricsReporter: Sendable {
    private struct Counted {
        let counter: Counter
        let read: @Sendable (MemcacheServerStatistics) -> Int
    }

    private struct Measured {
        let gauge: Gauge
        let read: @Sendable (MemcacheServerStatistics) -> Int
    }

    private let counters: [Counted]
    private let gauges: [Measured]
    private let reported = LockedValue<[Int]?>(nil)

    init(loops: Int, dimensions: [(String, String)], factory: any MetricsFactory) {
        func counter(
            _ name: String, _ extra: [(String, String)] = [],
            _ read: @escaping @Sendable (MemcacheServerStatistics) -> Int
        ) -> Counted {
            Counted(counter: Counter(label: name, dimensions: dimensions + extra, factory: factory), read: read)
        }
        func gauge(
            _ name: String, _ extra: [(String, String)] = [],
            _ read: @escaping @Sendable (MemcacheServerStatistics) -> Int
        ) -> Measured {
            Measured(gauge: Gauge(label: name, dimensions: dimensions + extra, factory: factory), read: read)
        }
        var counters = [
            counter("memcached.total_connections") { $0.totalConnections },
            counter("memcached.cmd_get") { $0.getHits + $0.getMisses },
            counter("memcached.cmd_set") { $0.sets },
            counter("memcached.cmd_touch") { $0.touches },
            counter("memcached.get_hits") { $0.getHits },
            counter("memcached.get_misses") { $0.getMisses },
            counter("memcached.total_items") { $0.totalItems },
            counter("memcached.evictions") { $0.evictions },
        ]
        var gauges = [
            gauge("memcached.uptime") { $0.uptime },
            gauge("memcached.curr_connections") { $0.currentConnections },
            gauge("memcached.curr_items") { $0.currentItems },
            gauge("memcached.bytes") { $0.bytes },
            gauge("memcached.limit_maxbytes") { $0.memoryLimit },
            gauge("memcached.threads") { $0.loops.count },
        ]
        for loop in 0..<loops {
            let extra = [("loop", "\(loop)")]
            counters.append(counter("memcached.loop.connections", extra) { $0.loops[loop].totalConnections })
            counters.append(counter("memcached.loop.commands", extra) { $0.loops[loop].commands })
            gauges.append(gauge("memcached.loop.curr_connections", extra) { $0.loops[loop].currentConnections })
        }
        self.counters = counters
        self.gauges = gauges
    }

    /// Reports `statistics`: gauges as they are, counters by what grew since the last report.
    func report(_ statistics: MemcacheServerStatistics) {
        self.reported.withLock { last in
            let now = self.counters.map { $0.read(statistics) }
            for (index, counted) in self.counters.enumerated() {
                let grown = now[index] - (last?[index] ?? 0)
                if grown > 0 { counted.counter.increment(by: grown) }
            }
            last = now
            for measured in self.gauges { measured.gauge.record(measured.read(statistics)) }
        }
    }
}
