public import Channels

/// A connection a `ConnectionPool` can lease: a channel with its pipeline built and ready.
///
/// Thread-safe (the pool hands it to callers on any thread). The pool closes it through its
/// channel and learns of its death through `channel.closeFuture`.
///
/// ```swift
/// final class LineConnection: PoolableConnection {
///     let channel: any Channel
///     init(channel: any Channel) { self.channel = channel }
/// }
/// ```
public protocol PoolableConnection: AnyObject, Sendable {
    var channel: any Channel { get }

    /// Whether the connection may serve the next caller. Called on the channel's loop at
    /// every release; `isLastLease` says no other caller still uses it (so, for instance, no
    /// response may be outstanding). The default: the channel is still active.
    func isReusable(isLastLease: Bool) -> Bool
}

extension PoolableConnection {
    public func isReusable(isLastLease: Bool) -> Bool {
        self.channel.isActive
    }
}
