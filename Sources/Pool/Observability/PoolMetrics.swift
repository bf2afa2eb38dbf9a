import Channels
import CoreMetrics
import Metrics

/// One loop's swift-metrics instruments, named after OpenTelemetry's database-client
/// connection metrics, with the pool's name and the loop as dimensions.
///
/// Thread-safe (swift-metrics handlers are); each loop records into its own, so loops do
/// not contend in the backend. Gauges are refreshed from the loop's counts by the loop's
/// maintenance tick (about once a second) and at shutdown, not per lease.
final class PoolMetrics: Sendable {
    // The instruments are private: the loop records through the methods below, so what is
    // measured where reads in one place.

    /// Open connections with no lease (`db.client.connection.count`, state `idle`).
    private let idle: Gauge
    /// Open connections with at least one lease (`db.client.connection.count`, state `used`).
    private let used: Gauge
    /// Callers waiting for a connection.
    private let pendingRequests: Gauge
    /// The most connections this loop may open.
    private let max: Gauge
    /// How long each lease waited for a connection (0 for those served at once).
    private let waitTime: Timer
    /// How long each lease held its connection.
    private let useTime: Timer
    /// How long each successful connect took (TCP, pipeline set-up, TLS handshake).
    private let createTime: Timer
    /// Leases that timed out waiting.
    private let timeouts: Counter
    /// Connections closed, one counter per reason (`PoolCloseReason`, dimension `reason`).
    private let closed: [PoolCloseReason: Counter]

    static let prefix = "db.client.connection."

    init(pool name: String, loop: Int, maxConnections: Int, factory: any MetricsFactory) {
        let dimensions = [("db.client.connection.pool.name", name), ("loop", String(loop))]
        func named(_ suffix: String) -> String { Self.prefix + suffix }
        self.idle = Gauge(
            label: named("count"), dimensions: dimensions + [("db.client.connection.state", "idle")], factory: factory)
        self.used = Gauge(
            label: named("count"), dimensions: dimensions + [("db.client.connection.state", "used")], factory: factory)
        self.pendingRequests = Gauge(label: named("pending_requests"), dimensions: dimensions, factory: factory)
        self.max = Gauge(label: named("max"), dimensions: dimensions, factory: factory)
        self.waitTime = Timer(label: named("wait_time"), dimensions: dimensions, factory: factory)
        self.useTime = Timer(label: named("use_time"), dimensions: dimensions, factory: factory)
        self.createTime = Timer(label: named("create_time"), dimensions: dimensions, factory: factory)
        self.timeouts = Counter(label: named("timeouts"), dimensions: dimensions, factory: factory)
        var closed: [PoolCloseReason: Counter] = [:]
        for reason in PoolCloseReason.allCases {
            closed[reason] = Counter(
                label: named("closed"), dimensions: dimensions + [("reason", reason.rawValue)], factory: factory)
        }
        self.closed = closed
        self.max.record(maxConnections)
    }

    func leaseServed(waited: TimeAmount?) { self.waitTime.recordNanoseconds(waited?.nanoseconds ?? 0) }
    func leaseEnded(used: TimeAmount) { self.useTime.recordNanoseconds(used.nanoseconds) }
    func connected(after duration: TimeAmount) { self.createTime.recordNanoseconds(duration.nanoseconds) }
    func leaseTimedOut() { self.timeouts.increment() }
    func connectionClosed(_ reason: PoolCloseReason) { self.closed[reason]?.increment() }

    func refresh(_ statistics: PoolStatistics.Loop) {
        self.idle.record(statistics.idle)
        self.used.record(statistics.leased)
        self.pendingRequests.record(statistics.waiting)
    }
}
