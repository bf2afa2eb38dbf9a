/// Why one of the pool's connections closed: counted per loop in `PoolStatistics`
/// (`closedBy`), as the `reason` dimension of the metric `db.client.connection.closed`, and in
/// the debug log line of each close.
///
/// Thread-safe (a value).
///
/// ```swift
/// let statistics = await pool.statistics()
/// if statistics.total.closedBy[.lost, default: 0] > 0 { print("connections are being lost") }
/// ```
public enum PoolCloseReason: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Idle for `idleTimeout` while the loop had more than its minimum.
    case idle
    /// Past its lifetime (`maxLifetime`, shortened at random by up to `lifetimeJitter`).
    case lifetime
    /// It served `maxUsesPerConnection` leases.
    case maxUses = "max_uses"
    /// Given back unusable: the connection said, on release, that it cannot serve again (a
    /// reply still outstanding, a failed request, a broken stream).
    case unusable
    /// It ended without the pool asking: the server closed it, or it failed (a reset, a
    /// timeout, a reply that could not be read).
    case lost
    /// An idle connection's keep-alive ping failed or went unanswered (`keepAlive`).
    case keepAliveFailed = "keep_alive_failed"
    /// An idle connection given up so that a loop starved of the shared budget could connect.
    case rebalanced
    /// The pool shut down.
    case shutdown

    public var description: String { self.rawValue }
}
