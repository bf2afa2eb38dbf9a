public import Channels
public import Codecs

/// A memcache client over a `ConnectionPool`: as easy as one connection, shared by any
/// number of concurrent callers over a fixed number of connections.
///
/// Thread-safe. Every command of `MemcacheRequestSender` (`get`, `set`, `cas`, `delete`,
/// `getMany`, …) leases a connection on the caller's loop (several callers share one
/// connection, pipelined, up to `maxConcurrentLeasesPerConnection`), sends the request from
/// that loop and releases the connection when the response arrives: one hop to the loop and
/// one resume back per command. A call that finds its connection dead before any response
/// arrives is retried once on another connection when the command is idempotent (get,
/// touch, delete, version, stats). Server error replies throw `MemcacheError`; pool failures
/// `PoolError`; a dead connection or a silent server `RequestResponseError`.
///
/// ```swift
/// let pool = MemcachePool(host: "127.0.0.1", port: 11211, maxConnections: 20, group: group)
/// try await pool.set("greeting", to: ByteBuffer(string: "hello"))
/// let value = try await pool.get("greeting")
/// await pool.shutdown()
/// ```
public final class MemcachePool: MemcacheRequestSender {
    /// Where and how to connect, and how to pool.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// TLS for every connection; the server's certificate must match `serverHostname`
        /// (by default `host`).
        public var tls: TLSContext?
        public var serverHostname: String?
        public var pool: ConnectionPoolConfiguration
        /// How long the server may stay silent while requests are outstanding.
        public var responseTimeout: TimeAmount? = .seconds(5)
        /// Retry idempotent commands once when their connection died before answering.
        public var retryIdempotent = true
        public var maximumValueLength = 64 << 20

        /// The memcache defaults: `maxConnections` in total, 16 callers pipelined per
        /// connection (what the benchmark measured fastest, see the README).
        public init(host: String, port: Int = 11211, maxConnections: Int = 20, tls: TLSContext? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
            self.pool = ConnectionPoolConfiguration(maxConnections: maxConnections)
            self.pool.maxConcurrentLeasesPerConnection = 16
        }
    }

    public let configuration: Configuration
    /// The underlying pool (statistics, shutdown, direct leases).
    public let connections: ConnectionPool<MemcachePooledConnection>

    public convenience init(
        host: String, port: Int = 11211, maxConnections: Int = 20, group: EventLoopGroup, tls: TLSContext? = nil
    ) {
        self.init(configuration: Configuration(host: host, port: port, maxConnections: maxConnections, tls: tls), group: group)
    }

    public init(
        configuration: Configuration, group: EventLoopGroup, observer: (@Sendable (PoolEvent) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.connections = ConnectionPool(group: group, configuration: configuration.pool, observer: observer) { loop in
            Self.connect(on: loop, configuration: configuration)
        }
    }

    /// One ready connection: connected, codec installed, and for TLS handshaken.
    private static func connect(on loop: any EventLoop, configuration: Configuration) -> EventLoopFuture<MemcachePooledConnection> {
        let handshake = loop.makePromise(of: Void.self)
        if configuration.tls == nil { handshake.succeed() }
        let handler = MemcacheClientHandler(
            maximumValueLength: configuration.maximumValueLength, responseTimeout: configuration.responseTimeout)
        let connected = ClientBootstrap(loop: loop)
            .connectTimeout(configuration.pool.connectTimeout)
            .channelInitializer { channel in
                if let tls = configuration.tls {
                    let hostname = configuration.serverHostname ?? configuration.host
                    try channel.pipeline.syncOperations.addHandlers(
                        TLSHandler(context: tls, serverHostname: hostname), HandshakeWaiter(promise: handshake))
                }
                try channel.pipeline.syncOperations.addHandler(handler)
            }
            .connect(host: configuration.host, port: configuration.port)
        connected.whenFailure { handshake.fail($0) }
        return connected.flatMap { channel in
            handshake.futureResult.flatMapError { error in
                _ = channel.close()
                return loop.makeFailedFuture(error)
            }.map { _ in MemcachePooledConnection(channel: channel, handler: handler) }
        }
    }

    /// Sends `request` on a pooled connection and waits for its response. Server error
    /// replies throw `MemcacheError`.
    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        let response = try await self.sendRetrying(request, onPartial: nil)
        if case .error(let error) = response { throw error }
        return response
    }

    public func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        try await self.sendRetrying(.metaBatch(requests), onPartial: onReply)
    }

    private func sendRetrying(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?
    ) async throws -> MemcacheResponse {
        do {
            return try await self.sendOnce(request, onPartial: onPartial)
        } catch where request.isIdempotent && self.configuration.retryIdempotent && Self.diedBeforeAnswering(error) {
            return try await self.sendOnce(request, onPartial: onPartial)
        }
    }

    /// One attempt: lease a connection on the caller's loop (or wait for one), send, and give
    /// the lease back when the reply arrives — the handler does that, so no closure is made
    /// per request. A caller already on a loop with a free connection takes the fast path:
    /// no hop, no waiter, the request leaves when the loop's turn ends. Any other caller hops
    /// to its loop once, with one closure; a waiter is made only when every connection is full.
    private func sendOnce(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?
    ) async throws -> MemcacheResponse {
        let pool = self.connections.homePool()
        if pool.loop.inEventLoop, let served = pool.leaseIfReady() {
            served.connection.bindLeaseRelease(owner: served.owner, id: served.id)
            return try await served.connection.memcache.sendRaw(request, onPartial: onPartial, releasesLease: true)
        }
        let deadline = self.connections.deadline(nil, on: pool)
        return try await MemcacheCall().wait { call in
            if pool.loop.inEventLoop {
                Self.send(request, onPartial: onPartial, call: call, pool: pool, deadline: deadline)
            } else {
                pool.loop.execute { Self.send(request, onPartial: onPartial, call: call, pool: pool, deadline: deadline) }
            }
        }
    }

    /// On `pool`'s loop: sends on a free connection, or queues a waiter that sends once it is
    /// served. A call cancelled meanwhile is not sent; its lease goes straight back.
    private static func send(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?,
        call: MemcacheCall, pool: LoopPool<MemcachePooledConnection>, deadline: Deadline
    ) {
        @Sendable func send(on served: PoolWaiter<MemcachePooledConnection>.Served) {
            served.connection.bindLeaseRelease(owner: served.owner, id: served.id)
            guard call.isWaiting else {
                served.owner.release(served.id, served.connection)
                return
            }
            served.connection.memcache.handler.send(request, onPartial: onPartial, releasesLease: true, responder: .call(call))
        }
        if let served = pool.leaseIfReady() {
            send(on: served)
            return
        }
        let waiter = PoolWaiter<MemcachePooledConnection>(deadline: deadline)
        waiter.callback = { leased in
            switch leased {
            case .success(let served): send(on: served)
            case .failure(let error): call.finish(.failure(error))
            }
        }
        pool.enqueue(waiter)
    }

    /// Runs several commands on one pooled connection (for example a read-modify-write with
    /// CAS), retrying once on another connection when `idempotent` and the connection died
    /// before answering.
    public func withConnection<T: Sendable>(
        idempotent: Bool, _ commands: (MemcacheConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await self.connections.withConnection { try await commands($0.memcache) }
        } catch where idempotent && self.configuration.retryIdempotent && Self.diedBeforeAnswering(error) {
            return try await self.connections.withConnection { try await commands($0.memcache) }
        }
    }

    /// The connection closed before the command was answered (or even written).
    static func diedBeforeAnswering(_ error: any Error) -> Bool {
        if let error = error as? RequestResponseError { return error.code == .channelClosedBeforeResponse }
        if let error = error as? ChannelError { return error.code == .ioOnClosedChannel }
        return false
    }

    /// Stops the pool: see `ConnectionPool.shutdown(deadline:)`.
    public func shutdown(deadline: TimeAmount = .seconds(10)) async {
        await self.connections.shutdown(deadline: deadline)
    }

    public func statistics() async -> PoolStatistics {
        await self.connections.statistics()
    }
}
