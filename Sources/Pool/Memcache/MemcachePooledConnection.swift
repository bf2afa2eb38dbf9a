public import Channels
public import Codecs

/// One pooled memcache connection: a `MemcacheConnection` plus what the pool checks on
/// release.
///
/// Thread-safe, like `MemcacheConnection`; `isReusable` runs on the channel's loop.
public final class MemcachePooledConnection: PoolableConnection {
    public let memcache: MemcacheConnection
    // Loop-confined (its Sendable conformance is unchecked): only read in `isReusable`,
    // which the pool calls on the channel's loop.
    private let correlator: RequestResponseHandler<MemcacheRequest, MemcacheResponse>
    /// Loop-confined: batches the gets issued on this connection within one loop turn.
    let coalescer = GetCoalescer()

    public var channel: any Channel { self.memcache.channel }

    /// Call on the channel's loop, after `MemcacheConnection.addHandlers(to:)`.
    init(channel: any Channel) throws {
        self.memcache = MemcacheConnection(channel: channel)
        self.correlator = try channel.pipeline.syncOperations.handler(
            type: RequestResponseHandler<MemcacheRequest, MemcacheResponse>.self)
    }

    /// Active, and when the last caller leaves, no response outstanding (a caller that gave
    /// up mid-request leaves one; the connection is then closed rather than reused).
    public func isReusable(isLastLease: Bool) -> Bool {
        self.channel.isActive && (!isLastLease || self.correlator.isClean)
    }
}
