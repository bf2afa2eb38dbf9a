import Channels
import Codecs
import MemcacheServer
import Prometheus

/// The embedded server's counters as Prometheus metrics: everything `stats` reports (named
/// `memcached_<stat>`, counters with `_total`, as the memcached exporter users know names
/// them), plus each loop's connections and commands (`mcpool_loop_…{loop="N"}`).
///
/// Thread-safe. The values are read from `InProcessMemcacheServer.statistics` at each scrape;
/// scrapes are serialized, so two never interleave their updates.
final class ServerMetrics: Sendable {
    private let server: InProcessMemcacheServer
    private let registry = PrometheusCollectorRegistry()
    private let lock = Lock()
    private let gauges: [(Gauge, @Sendable (MemcacheServerStatistics) -> Int)]
    private let counters: [(Counter, @Sendable (MemcacheServerStatistics) -> Int)]

    init(server: InProcessMemcacheServer) {
        self.server = server
        let registry = self.registry
        typealias Reading = @Sendable (MemcacheServerStatistics) -> Int
        func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
            // "<namespace>_<name>_<unit>"; the unit only where Prometheus' conventions want one.
            let parts = name.split(separator: "_", maxSplits: 1).map(String.init)
            let unit = ["seconds", "total"].first { parts[1].hasSuffix("_\($0)") } ?? ""
            let base = unit.isEmpty ? parts[1] : String(parts[1].dropLast(unit.count + 1))
            return MetricNameDescriptor(namespace: parts[0], metricName: base, unitName: unit, helpText: help)
        }
        func gauge(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: @escaping Reading) -> (
            Gauge, Reading
        ) {
            (registry.makeGauge(descriptor: describe(name, help), labels: labels), value)
        }
        func counter(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: @escaping Reading) -> (
            Counter, Reading
        ) {
            (registry.makeCounter(descriptor: describe(name, help), labels: labels), value)
        }
        var gauges = [
            gauge("memcached_uptime_seconds", "Seconds since the server started (stats uptime).", { $0.uptime }),
            gauge("memcached_time_seconds", "The server's clock, Unix seconds (stats time).", { $0.time }),
            gauge(
                "memcached_curr_connections", "Open connections (stats curr_connections).", { $0.currentConnections }),
            gauge("memcached_threads", "Event loops serving connections (stats threads).", { $0.loops.count }),
            gauge("memcached_bytes", "Bytes charged for the items stored (stats bytes).", { $0.bytes }),
            gauge("memcached_curr_items", "Items stored now (stats curr_items).", { $0.currentItems }),
            gauge("memcached_limit_maxbytes", "Memory limit for items (stats limit_maxbytes).", { $0.memoryLimit }),
        ]
        var counters = [
            counter(
                "memcached_connections_total", "Connections accepted (stats total_connections).",
                { $0.totalConnections }),
            counter(
                "memcached_cmd_get_total", "Keys looked up by gets (stats cmd_get).", { $0.getHits + $0.getMisses }),
            counter("memcached_cmd_set_total", "Items stored (stats cmd_set).", { $0.sets }),
            counter("memcached_cmd_touch_total", "Touches (stats cmd_touch).", { $0.touches }),
            counter("memcached_get_hits_total", "Keys found (stats get_hits).", { $0.getHits }),
            counter("memcached_get_misses_total", "Keys not found (stats get_misses).", { $0.getMisses }),
            counter("memcached_items_total", "Items stored since the start (stats total_items).", { $0.totalItems }),
            counter("memcached_evictions_total", "Items evicted for memory (stats evictions).", { $0.evictions }),
        ]
        for loop in server.statistics.loops.indices {
            let labels = [("loop", "\(loop)")]
            gauges.append(
                gauge("mcpool_loop_curr_connections", "Open connections on each loop.", labels: labels) {
                    $0.loops[loop].currentConnections
                })
            counters.append(
                counter("mcpool_loop_connections_total", "Connections accepted on each loop.", labels: labels) {
                    $0.loops[loop].totalConnections
                })
            counters.append(
                counter("mcpool_loop_commands_total", "Requests answered on each loop.", labels: labels) {
                    $0.loops[loop].commands
                })
        }
        self.gauges = gauges
        self.counters = counters
    }

    /// The exposition of the current values.
    func render() -> [UInt8] {
        self.lock.withLock {
            let statistics = self.server.statistics
            for (gauge, value) in self.gauges { gauge.set(Int64(value(statistics))) }
            for (counter, value) in self.counters {
                counter.reset()
                counter.increment(by: Int64(value(statistics)))
            }
            var out: [UInt8] = []
            self.registry.emit(into: &out)
            return out
        }
    }

    /// Serves `GET /metrics` on `host:port` on the server's loops.
    func serve(group: EventLoopGroup, host: String, port: Int) async throws -> ListeningServer {
        try await ServerBootstrap(group: group)
            .acceptStrategy(.singleAcceptor)
            .childChannelInitializer { [self] channel in
                try channel.pipeline.syncOperations.addHandlers(
                    ByteToMessageHandler(HTTPRequestHeadDecoder(), maximumBufferedBytes: 16 << 10),
                    MetricsHTTPHandler { self.render() })
            }
            .bind(host: host, port: port)
    }
}
