public import Channels

/// A leased connection: the caller's until released.
///
/// Thread-safe to move between tasks; not copyable, so a lease cannot be released twice.
/// Releasing happens however the lease ends — `release()`, or simply going out of scope — and
/// the pool then checks the connection (`isReusable`) before the next caller gets it. Prefer
/// `ConnectionPool.withConnection`, which scopes the lease for you.
///
/// ```swift
/// let lease = try await pool.lease()
/// try await lease.connection.channel.writeAndFlush(ByteBuffer(string: "PING\r\n")).get()
/// lease.release()
/// ```
public struct ConnectionLease<Connection: PoolableConnection>: ~Copyable, Sendable {
    public let connection: Connection
    @usableFromInline let id: ConnectionID
    @usableFromInline let owner: LoopPool<Connection>

    @usableFromInline
    init(connection: Connection, id: ConnectionID, owner: LoopPool<Connection>) {
        self.connection = connection
        self.id = id
        self.owner = owner
    }

    /// The loop the connection lives on.
    public var eventLoop: any EventLoop { self.owner.loop }

    /// Gives the connection back now (instead of at the end of the lease's scope).
    public consuming func release() {}

    deinit {
        self.owner.release(self.id, self.connection)
    }
}
