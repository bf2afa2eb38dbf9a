public import Channels
import Codecs
import Pool

/// One pooled memcache connection: a `MemcacheConnection` plus what the pool checks on
/// release.
///
/// Thread-safe, like `MemcacheConnection`; `isReusable` and `bindLeaseRelease` run on the
/// channel's loop.
public final class MemcachePooledConnection: PoolableConnection {
    public let memcache: MemcacheConnection
    /// `memcache.handler`, one load away (reached through `memcache`, the pooled get retained
    /// and released the connection between the loads).
    let handler: MemcacheClientHandler

    public var channel: any Channel { self.memcache.channel }

    /// Call on the channel's loop, with the handler `MemcacheConnection.addHandlers(to:)`
    /// returned.
    init(channel: any Channel, handler: MemcacheClientHandler) {
        self.memcache = MemcacheConnection(channel: channel, handler: handler)
        self.handler = handler
    }

    /// Active, and when the last caller leaves, no response outstanding (a caller that gave
    /// up mid-request leaves one; the connection is then closed rather than reused).
    ///
    /// Whether it is active is asked of the handler (`MemcacheClientHandler.isChannelOpen`,
    /// which answers as `channel.isActive` would whenever a lease comes back): a call through
    /// the channel's existential retained and released the channel on every lease given back
    /// (once per pooled get, uprobes under `mcpool bench`).
    public func isReusable(isLastLease: Bool) -> Bool {
        self.handler.isChannelOpen && (!isLastLease || self.handler.isClean)
    }

    /// The keep-alive ping (see `ConnectionPoolConfiguration.keepAlive`): `mn` in the meta
    /// protocol, `version` in the text protocol, and behind twemproxy (which answers neither
    /// itself) a `get` of one key, which a server behind it answers. Any reply, an error line
    /// included, shows the connection alive. On the channel's loop.
    public func ping() -> EventLoopFuture<Void>? {
        let promise = self.channel.eventLoop.makePromise(of: Void.self)
        let request: MemcacheRequest =
            switch self.memcache.handler.wireProtocol {
            case .meta: .meta(.noop)
            case .text: .version
            case .twemproxy: .get(keys: [Self.pingKey], withCAS: false)
            }
        self.memcache.handler.send(request) { result in promise.completeWith(result.map { _ in () }) }
        return promise.futureResult
    }

    private static let pingKey: MemcacheKey = "swift-channels:keep-alive"

    /// Makes the handler give a pool lease back whenever a request sent with `releasesLease`
    /// finishes. Loop-confined; the first lease installs it, later calls change nothing (a
    /// connection never changes loop pool or ID).
    func bindLeaseRelease(owner: LoopPool<MemcachePooledConnection>, id: ConnectionID) {
        guard self.handler.leaseReturn == nil else { return }
        // SAFETY: both unretained for as long as the handler may give a lease back (see
        // `PooledLeaseReturn`'s fields).
        self.handler.leaseReturn = PooledLeaseReturn(
            pool: Unmanaged.passUnretained(owner), connection: Unmanaged.passUnretained(self), id: id)
    }
}

/// How a pooled connection's handler gives a lease back: the loop pool and the connection,
/// unretained. A closure capturing both unowned did the same with a retain and a release of
/// its context and a strong load of each reference per request (uprobes under `mcpool bench`).
package struct PooledLeaseReturn {
    // SAFETY: the handler calls `giveBack` only on its loop while a request of this connection
    // finishes — at the latest while the channel closes — and until the channel has closed,
    // the loop pool holds this connection (its `connections`) and is itself held by the
    // callback it put on the channel's close future: both references are alive then.
    let pool: Unmanaged<LoopPool<MemcachePooledConnection>>
    let connection: Unmanaged<MemcachePooledConnection>
    let id: ConnectionID

    /// On the connection's loop: the lease ended at `now`.
    func giveBack(now: Deadline) {
        // SAFETY: see the fields: both objects outlive every call.
        self.pool._withUnsafeGuaranteedRef { pool in
            self.connection._withUnsafeGuaranteedRef { connection in pool.releaseOnLoop(self.id, connection, now: now) }
        }
    }
}
