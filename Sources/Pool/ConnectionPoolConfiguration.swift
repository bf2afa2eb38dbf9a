public import Channels
public import CoreMetrics
public import Logging

/// How a `ConnectionPool` sizes, times and routes its connections.
///
/// Thread-safe (a value). The defaults suit a cache client: a total of `maxConnections`
/// split evenly over the loops, a 10 s lease timeout, a bounded queue of waiters per loop,
/// reconnect backoff of 100 ms × 1.25ⁿ (capped at 60 s, ±3 % jitter). It logs through
/// swift-log (`logger`; connects, failures, the breaker, shutdown — nothing per request above
/// `.trace`) and reports through swift-metrics' `MetricsSystem` (`reportsMetrics`; a no-op
/// until the application bootstraps a backend).
///
/// ```swift
/// var configuration = ConnectionPoolConfiguration(maxConnections: 8)
/// configuration.leaseTimeout = .seconds(2)
/// configuration.affinity = .strict
/// ```
public struct ConnectionPoolConfiguration: Sendable {
    /// Where a caller's request is served.
    public enum Affinity: Sendable, Equatable {
        /// Always on the caller's loop (or the loop it was sent to): never moves.
        case strict
        /// On the caller's loop; a waiter that waited longer than `after` while its loop is
        /// saturated moves to a loop with an idle connection or spare budget.
        case preferred(after: TimeAmount)
    }

    /// The cap on open (and opening) connections over all loops.
    public var maxConnections: Int
    /// The cap per loop; by default the total split evenly (rounded up), so one busy loop
    /// can borrow budget that an idle loop does not use, up to this cap.
    public var maxConnectionsPerLoop: Int?
    /// Connections each loop keeps open, leased or idle: opened at start and replaced when
    /// they die; idle connections above it close after `idleTimeout`.
    public var minConnectionsPerLoop: Int = 0
    /// How many callers share one leased connection at once: 1 = exclusive leases; more =
    /// requests pipelined on one connection.
    public var maxConcurrentLeasesPerConnection: Int = 1
    /// Connects in flight per loop at once.
    public var maxConnectingPerLoop: Int = 2
    /// Waiters per loop; past it a lease fails at once with `PoolError.tooManyWaiters`.
    public var maxWaitersPerLoop: Int = 10_000
    /// How long a lease may wait for a connection (shortened by the caller's own deadline).
    public var leaseTimeout: TimeAmount = .seconds(10)
    /// How long one connect (TCP, pipeline set-up, TLS handshake) may take.
    public var connectTimeout: TimeAmount = .seconds(5)
    /// An idle connection above `minConnectionsPerLoop` closes after this long.
    public var idleTimeout: TimeAmount = .seconds(60)
    /// A connection older than this takes no new lease and closes when its last lease ends
    /// (a replacement opens when callers or the minimum want one); nil = no limit.
    public var maxLifetime: TimeAmount? = nil
    /// Each connection's lifetime is `maxLifetime` shortened at random by up to this fraction
    /// (0...1), so that connections opened together (at start, after an outage) do not all
    /// close and reconnect together.
    public var lifetimeJitter = 0.1
    /// A connection that has served this many leases takes no new one and closes when its
    /// last lease ends; nil = no limit.
    public var maxUsesPerConnection: Int? = nil
    /// Pings idle connections, so that one a server, proxy or NAT dropped without a word is
    /// found and replaced before a caller meets it (see `KeepAlive`); nil = off. Needs a
    /// connection that can ping (`PoolableConnection.ping()`; `MemcachePool`'s can).
    public var keepAlive: KeepAlive? = nil
    /// Log a warning (once per lease) when a lease is held this long: a caller that never
    /// gives its connection back. Checked by the pool's maintenance timer (about once a
    /// second); nil = off.
    public var longLeaseWarning: TimeAmount? = nil
    /// Socket options for the pool's connections (keep-alive, `TCP_USER_TIMEOUT`, buffer
    /// sizes). `MemcachePool` applies them; a factory of your own passes them to its
    /// bootstrap: `ClientBootstrap(loop: loop).socketOptions(configuration.socketOptions)`.
    public var socketOptions = SocketOptions()
    /// Reconnect backoff after connect failures, shared by all loops.
    public var backoff: Backoff = Backoff()
    /// Where requests are served.
    public var affinity: Affinity = .preferred(after: .milliseconds(20))
    /// Where the pool logs what an operator needs: connections opened (debug) and closed
    /// (debug), connect failures and the breaker opening (warning), probes and recovery
    /// (info), shutdown (info). Each message carries the pool's name, the loop and the
    /// connection id as metadata. Nothing is logged per request above `.trace`. By default
    /// nothing is logged at all (a library does not write to your stderr unasked): set a
    /// logger of your own to hear from the pool.
    public var logger = Logger(label: "swift-channels.pool", factory: { _ in SwiftLogNoOpLogHandler() })
    /// The pool's name in metrics (`db.client.connection.pool.name`) and log metadata.
    public var name = "pool"
    /// Report the pool's metrics (`db.client.connection.*`, OpenTelemetry's names, with the
    /// loop as a dimension) through swift-metrics. Off saves one clock read per lease. Also
    /// off, in effect, while swift-metrics has no backend when the pool is made: bootstrap
    /// `MetricsSystem` first (or set `metricsFactory`).
    public var reportsMetrics = true
    /// Where the metrics go: nil means swift-metrics' global `MetricsSystem.factory` (what
    /// the application bootstrapped); a factory of its own isolates one pool (in a test, say).
    public var metricsFactory: (any MetricsFactory)? = nil

    /// The factory the pool's metrics go to, or nil when none are reported: `reportsMetrics`
    /// is off, or the factory is swift-metrics' no-op one (nothing bootstrapped), so that a
    /// pool whose metrics no one collects does not time its operations — two clock reads and
    /// a timer call per get, and one clock read per lease, for a no-op.
    package var metricsBackend: (any MetricsFactory)? {
        guard self.reportsMetrics else { return nil }
        let factory = self.metricsFactory ?? MetricsSystem.factory
        return factory is NOOPMetricsHandler ? nil : factory
    }
    /// How long leased work may go on when the pool is stopped as a `Service` (a
    /// `ServiceGroup`'s graceful shutdown); `shutdown(deadline:)` takes its own.
    public var shutdownTimeout: TimeAmount = .seconds(10)

    public init(maxConnections: Int) {
        self.maxConnections = max(1, maxConnections)
    }

    /// The per-loop cap for a group of `loopCount` loops.
    func perLoopCap(loopCount: Int) -> Int {
        let even = (self.maxConnections + loopCount - 1) / loopCount
        return max(1, min(self.maxConnectionsPerLoop ?? even, self.maxConnections))
    }
}

extension ConnectionPoolConfiguration {
    /// When idle connections are pinged. A connection idle for `interval` is leased for a
    /// ping, as a caller would lease it, and pinged again every `interval` while it stays
    /// idle; a ping that fails or is not answered within `timeout` closes it
    /// (`PoolCloseReason.keepAliveFailed`), and a replacement connects when callers or the
    /// minimum want one. A busy connection is never pinged: its callers' requests show it
    /// alive. While its ping is unanswered a connection takes no caller (even with shared
    /// leases): a caller of that moment uses another connection, or waits for the answer (a
    /// connect is started when there is room); `shutdown` closes it at once, as an idle one.
    /// Pinging does not count as use: `idleTimeout` still closes idle connections.
    ///
    /// ```swift
    /// configuration.keepAlive = .init(interval: .seconds(30), timeout: .seconds(2))
    /// ```
    public struct KeepAlive: Sendable, Hashable {
        public var interval: TimeAmount
        public var timeout: TimeAmount

        public init(interval: TimeAmount = .seconds(60), timeout: TimeAmount = .seconds(5)) {
            self.interval = interval
            self.timeout = timeout
        }
    }
}
