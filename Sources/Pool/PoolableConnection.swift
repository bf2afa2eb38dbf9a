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

    /// Sends the protocol's cheapest request and completes when its answer arrives (or
    /// fails): the pool's keep-alive check of an idle connection (`keepAlive`). Called on the
    /// channel's loop while the pool holds a lease for the ping. The default: nil, this
    /// connection cannot be pinged (the pool then only notes that it tried).
    func ping() -> EventLoopFuture<Void>?
}

extension PoolableConnection {
    public func isReusable(isLastLease: Bool) -> Bool {
        self.channel.isActive
    }

    public func ping() -> EventLoopFuture<Void>? { nil }
}
