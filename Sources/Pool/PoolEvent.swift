public import Channels

/// Something a pool did, for logging and metrics (swift-log, swift-metrics, or your own).
///
/// Thread-safe (a value). The observer is called on the loop where it happened: keep it
/// short and non-blocking (count, or hand off to a logger).
///
/// ```swift
/// let pool = ConnectionPool(group: group, configuration: configuration, observer: { event in
///     if case .connectFailed(_, let error) = event { logger.warning("memcache down: \(error)") }
/// }) { loop in makeConnection(on: loop) }
/// ```
public enum PoolEvent: Sendable {
    case connected(loop: Int)
    case closed(loop: Int)
    case connectFailed(loop: Int, any Error)
    /// A lease failed (timeout, too many waiters, connect failure, shutdown, cancellation).
    case leaseFailed(loop: Int, PoolError.Code)
}
