public import Channels
public import Codecs
import CoreMetrics
import Logging
import Pool
public import Tracing

/// A memcache client over a `ConnectionPool`: as easy as one connection, shared by any
/// number of concurrent callers over a fixed number of connections.
///
/// Thread-safe. Every command of `MemcacheRequestSender` (`get`, `set`, `cas`, `delete`,
/// `getMany`, …) leases a connection on the caller's loop (several callers share one
/// connection, pipelined, up to `maxConcurrentLeasesPerConnection`), sends the request from
/// that loop and releases the connection when the response arrives: one hop to the loop and
/// one resume back per command. Every failure is a `MemcacheError` (see its codes; the
/// pool's own, such as `.poolExhausted` or `.connectFailed`, carry the `PoolError` as cause),
/// or `CancellationError` when the caller's task is cancelled.
///
/// Retries, exactly: a request whose connection closed before any byte of its reply arrived
/// is sent once more, on another connection, when sending it twice cannot change what its
/// reply means (`MemcacheRequest.isRetryable`: reads, `touch`, `version`, `stats`,
/// `flush_all`, quiet batches of gets). Never after a garbage reply or a timeout, never a
/// store or arithmetic, never a batch that delivered a reply already, and never a `delete`:
/// its first attempt may have deleted the item, and the retry would then answer "not found".
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
        /// The server's host, or for a Unix-domain socket its path.
        public var host: String
        /// The server's port; 0 for a Unix-domain socket.
        public var port: Int
        /// Connect to the Unix-domain socket at this path (memcached `-s PATH`) instead of
        /// `host` and `port`. With TLS, set `serverHostname`.
        public var unixSocketPath: String?
        /// TLS for every connection; the server's certificate must match `serverHostname`
        /// (by default `host`).
        public var tls: TLSContext?
        public var serverHostname: String?
        /// Authenticate every new connection with these (memcached's `-Y authfile`), before
        /// its first request. A refusal fails the connect with
        /// `MemcacheError.authenticationFailed`, not retried; see `MemcacheCredentials`.
        public var credentials: MemcacheCredentials? = nil
        public var pool: ConnectionPoolConfiguration
        /// How long the server may stay silent while requests are outstanding.
        public var responseTimeout: TimeAmount? = .seconds(5)
        /// Retry a retryable command once, on another connection, when its connection
        /// closed before any byte of its reply arrived (see the type's comment).
        public var retryIdempotent = true
        public var maximumValueLength = 64 << 20
        /// The commands the server speaks: `.meta` (memcached 1.6+), `.text` (the classic
        /// text protocol only) or `.twemproxy` (behind nutcracker). See `MemcacheProtocol`.
        public var wireProtocol: MemcacheProtocol = .meta
        /// Trace every operation with this tracer (a span per call, OpenTelemetry's `db.*`
        /// attributes; see the README): off (nil) by default, and then free. To use the one
        /// the application bootstrapped, pass `InstrumentationSystem.tracer`.
        public var tracer: (any Tracer)? = nil
        /// How `getMany` cuts a long list of keys: keys per request and requests in flight.
        public var multiGet = MemcacheMultiGetLimits()

        /// The memcache defaults: `maxConnections` in total, up to 128 callers pipelined per
        /// connection (fewer, fuller batches: measured against 32, the same from 64 callers
        /// down, and from 256 up more gets per second at less CPU per get and a shorter tail;
        /// the article "Production checklist" says when to lower it); idle
        /// connections pinged every 60 s (closed and replaced if no answer comes within 5 s);
        /// TCP keep-alive probes after 60 s of silence (every 10 s, 3 unanswered close it) and
        /// `TCP_USER_TIMEOUT` of 30 s (data unacknowledged that long closes the connection),
        /// so a server, proxy or NAT that drops a connection silently is noticed without a
        /// caller's timeout.
        public init(host: String, port: Int = 11211, maxConnections: Int = 20, tls: TLSContext? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
            self.pool = ConnectionPoolConfiguration(maxConnections: maxConnections)
            self.pool.maxConcurrentLeasesPerConnection = 128
            self.pool.keepAlive = .init(interval: .seconds(60), timeout: .seconds(5))
            self.pool.socketOptions.keepAlive = TCPKeepAlive(idle: .seconds(60), interval: .seconds(10), count: 3)
            self.pool.socketOptions.userTimeout = .seconds(30)
        }

        /// A server on a Unix-domain socket (memcached `-s PATH`), with the same defaults.
        ///
        /// ```swift
        /// let pool = MemcachePool(configuration: .init(unixSocketPath: "/run/memcached/memcached.sock"), group: group)
        /// ```
        public init(unixSocketPath: String, maxConnections: Int = 20, tls: TLSContext? = nil) {
            self.init(host: unixSocketPath, port: 0, maxConnections: maxConnections, tls: tls)
            self.unixSocketPath = unixSocketPath
        }

        /// How logs and metrics name the server: `host:port`, or `unix:PATH`.
        var serverName: String {
            self.unixSocketPath.map { "unix:\($0)" } ?? "\(self.host):\(self.port)"
        }
    }

    public let configuration: Configuration
    public var wireProtocol: MemcacheProtocol { self.configuration.wireProtocol }
    /// The underlying pool (statistics, shutdown, direct leases).
    public let connections: ConnectionPool<MemcachePooledConnection>
    /// Nil when the pool reports no metrics (`ConnectionPoolConfiguration.metricsBackend`).
    let operationMetrics: MemcacheOperationMetrics?
    private let tracing: MemcacheTracing?
    /// Whether calls are traced (then a route sends through `send`, which makes the spans).
    /// Kept apart: reading `tracing`, even to compare it with nil, copied it per call.
    package let isTraced: Bool
    let logger: Logger
    /// The TLS context new connections use (`replaceTLS(with:)`).
    let tls: LockedValue<TLSContext?>
    /// `connections`' per-loop pools, unretained (it holds them), and its group as a value,
    /// for `homePool()`.
    // SAFETY: `connections` holds every loop pool for as long as it lives, and `self` holds
    // `connections`: an entry is alive whenever `self` is.
    private let loopPools: [Unmanaged<LoopPool<MemcachePooledConnection>>]
    private let groupIdentity: EventLoopGroup.Identity

    public convenience init(
        host: String, port: Int = 11211, maxConnections: Int = 20, group: EventLoopGroup, tls: TLSContext? = nil
    ) {
        self.init(
            configuration: Configuration(host: host, port: port, maxConnections: maxConnections, tls: tls), group: group
        )
    }

    public init(
        configuration: Configuration, group: EventLoopGroup, observer: (@Sendable (PoolEvent) -> Void)? = nil
    ) {
        var poolConfiguration = configuration.pool
        // Metrics and logs say which server a pool talks to, unless the user named it.
        if poolConfiguration.name == ConnectionPoolConfiguration(maxConnections: 1).name {
            poolConfiguration.name = configuration.serverName
        }
        poolConfiguration.logger[metadataKey: "server"] = "\(configuration.serverName)"
        self.configuration = configuration
        self.logger = poolConfiguration.logger
        self.operationMetrics = configuration.pool.metricsBackend.map {
            MemcacheOperationMetrics(host: configuration.host, port: configuration.port, group: group, factory: $0)
        }
        self.isTraced = configuration.tracer != nil
        self.tracing = configuration.tracer.map {
            MemcacheTracing(tracer: $0, host: configuration.host, port: configuration.port)
        }
        let tls = LockedValue(configuration.tls)
        self.tls = tls
        self.connections = ConnectionPool(group: group, configuration: poolConfiguration, observer: observer) { loop in
            var current = configuration
            current.tls = tls.withLock { $0 }
            return Self.connect(on: loop, configuration: current)
        }
        // SAFETY: unretained; `connections` holds them (see `loopPools`).
        self.loopPools = self.connections.loopPools.map { Unmanaged.passUnretained($0) }
        self.groupIdentity = group.identity
    }

    /// Sends `request` on a pooled connection and waits for its response. Server error
    /// replies throw `MemcacheError`.
    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        // Tracing off costs this one branch (not an extra async frame per call).
        let response =
            if !self.isTraced {
                try await self.sendRetrying(request, onPartial: nil)
            } else {
                try await self.sendTraced(request, onPartial: nil)
            }
        if case .error(let error) = response { throw error }
        return response
    }

    public func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        if self.isTraced {
            return try await self.sendTraced(.metaBatch(requests), onPartial: onReply)
        }
        return try await self.sendRetrying(.metaBatch(requests), onPartial: onReply)
    }

    /// `sendRetrying` inside a span (when the pool traces).
    private func sendTraced(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?
    ) async throws -> MemcacheResponse {
        guard let tracing = self.tracing else { return try await self.sendRetrying(request, onPartial: onPartial) }
        let span = tracing.start(request)
        // A quiet batch's hits arrive one by one through `onPartial`.
        let hits = LockedValue(0)
        var counting = onPartial
        if request.isBatch, let forward = onPartial {
            counting = { @Sendable reply in
                if reply.hitCount > 0 { hits.withLock { $0 += 1 } }
                forward(reply)
            }
        }
        do {
            let response = try await self.sendRetrying(request, onPartial: counting)
            tracing.end(span, request, response, hits: request.isBatch ? hits.withLock { $0 } : nil)
            return response
        } catch {
            tracing.end(span, throwing: error)
            throw error
        }
    }

    /// Sends with one retry where allowed (see the type's comment), counted and timed when
    /// the pool reports metrics (in this frame: another async frame per call showed in the
    /// benchmark). Inlined into its callers: left to the optimizer it stayed a frame of its
    /// own between `send` and `sendOnce` (two lookups of the current task per get).
    @inline(__always)
    private func sendRetrying(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?
    ) async throws -> MemcacheResponse {
        let deadline = MemcacheDeadline.current
        return try await self.timedWithOneRetry(of: request) { start in
            try await self.sendOnce(request, onPartial: onPartial, now: start, deadline: deadline)
        } again: {
            try await self.sendOnce(request, onPartial: onPartial, deadline: deadline)
        }
    }

    /// Runs `first` (given the start time when the pool reports metrics), and `again` once
    /// when `first` failed because its connection closed before any byte of the reply and
    /// `request` may be sent twice; times and counts the call by `request`'s kind. Shared by
    /// `send` and `get` (which sends no request value: it passes one of the same kind).
    @inline(__always)
    func timedWithOneRetry(
        of request: MemcacheRequest, first: (Deadline?) async throws -> MemcacheResponse,
        again: () async throws -> MemcacheResponse
    ) async throws -> MemcacheResponse {
        let start = self.operationMetrics == nil ? nil : Deadline.now()
        do {
            let response: MemcacheResponse
            do {
                response = try await first(start)
            } catch  where request.isRetryable && self.configuration.retryIdempotent && Self.closedBeforeReply(error) {
                self.logRetry(request.commandName, after: error)
                response = try await again()
            }
            if let start { self.operationMetrics?.record(request, response, duration: Deadline.now() - start) }
            return response
        } catch {
            if let start, let metrics = self.operationMetrics {
                metrics.record(
                    command: request.commandName, outcome: operationOutcome(of: error), duration: Deadline.now() - start
                )
            }
            throw error
        }
    }

    /// One attempt: lease a connection on the caller's loop (or wait for one), send, and give
    /// the lease back when the reply arrives — the handler does that, so no closure is made
    /// per request. A caller already on a loop with a free connection takes the fast path:
    /// no hop, no waiter, the request leaves when the loop's turn ends. Any other caller hops
    /// to its loop once, with one closure; a waiter is made only when every connection is full.
    func sendOnce(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?, now: Deadline? = nil,
        deadline: Deadline?
    ) async throws -> MemcacheResponse {
        if deadline == nil, let leased = self.leaseOnItsLoopIfReady(now: now) {
            // On the connection's loop already: straight to its handler (no loop to look up
            // and check again, as `MemcacheConnection.sendRaw` must).
            return try await MemcacheCall().wait { call in
                // SAFETY: see `leaseOnItsLoopIfReady`: the handler is alive until the lease
                // ends, which is not before this send.
                leased._withUnsafeGuaranteedRef {
                    $0.send(request, onPartial: onPartial, releasesLease: true, responder: .call(call))
                }
            }
        }
        let (pool, isOnItsLoop) = self.homePoolAndWhetherOnItsLoop()
        if let deadline { return try await self.sendOnce(request, onPartial: onPartial, on: pool, by: deadline) }
        // The call's record is its own hop to the loop and its own waiter: no closure or
        // waiter to allocate per call.
        let call = PooledMemcacheCall(RequestPayload(request: request, onPartial: onPartial), pool: pool)
        return try await call.hopAndWait(isOnItsLoop: isOnItsLoop)
    }

    /// When the caller runs on one of the group's loops and that loop's pool has a connection
    /// ready: the connection leased (its handler gives the lease back with the reply), and its
    /// handler, unretained. Neither the loop pool nor the handler is retained for the call
    /// (three retains and releases per get when the async frame held them across its wait).
    ///
    /// The handler must be used at once, on this loop: it is alive while the lease is held —
    /// the loop pool holds the connection until its channel has closed, which happens on this
    /// loop, and the loop pools live as long as `connections`, which `self` holds. A send that
    /// fails at once gives the lease back inside the handler's `send`, which may close the
    /// connection there and then: the handler keeps itself alive through it (`finishUnsent`).
    // SAFETY: the handler comes unretained, alive while the lease is held (above).
    @inline(__always)
    func leaseOnItsLoopIfReady(now: Deadline?) -> Unmanaged<MemcacheClientHandler>? {
        guard let index = self.groupIdentity.currentIndex else { return nil }
        // SAFETY: above (`connections` holds every loop pool while `self` lives).
        return self.loopPools[index]._withUnsafeGuaranteedRef { pool in
            assert(pool.loop.inEventLoop, "the loop pool of loop \(index) is not on that loop")
            guard let served = pool.leaseConnectionIfReady(now: now) else { return nil }
            return served.connection._withUnsafeGuaranteedRef { connection in
                connection.bindLeaseRelease(owner: pool, id: served.id)
                return Unmanaged.passUnretained(connection.handler)
            }
        }
    }

    /// `ConnectionPool.home()`'s loop pool with the connection type known: the generic
    /// pool's own lookup found `LoopPool<Connection>`'s metadata on every call, once per get (a uprobe on
    /// `swift_getGenericMetadata`). Through this pool's own copies of the pools and the
    /// group's identity: through `connections` it retained and released once more per get.
    @inline(__always)
    private func homePool() -> LoopPool<MemcachePooledConnection> {
        self.homePoolAndWhetherOnItsLoop().pool
    }

    /// `homePool()`, and whether the caller runs on that pool's loop: it does exactly when the
    /// thread is one of the group's loops, whose index is the pool's (`ConnectionPool` makes
    /// one per loop, in the group's order). Asking the pool's loop instead (`inEventLoop`,
    /// through the `any EventLoop` existential) retained and released the loop once per get.
    @inline(__always)
    func homePoolAndWhetherOnItsLoop() -> (pool: LoopPool<MemcachePooledConnection>, isOnItsLoop: Bool) {
        // SAFETY: `takeUnretainedValue` makes the strong reference the caller gets, from a
        // pool that `connections` holds (see `loopPools`).
        if let index = self.groupIdentity.currentIndex {
            let pool = self.loopPools[index].takeUnretainedValue()
            assert(pool.loop.inEventLoop, "the loop pool of loop \(index) is not on that loop")
            return (pool, true)
        }
        return (self.loopPools[self.connections.indexForCallerOffTheLoops()].takeUnretainedValue(), false)
    }

    /// One attempt bounded by the caller's `deadline` (see `MemcacheDeadline`): the lease
    /// wait ends by it, and a timer on the loop finishes the call when it passes (a reply that
    /// comes later is read and dropped, and the connection lives on, as for a cancelled call).
    private func sendOnce(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?,
        on pool: LoopPool<MemcachePooledConnection>, by deadline: Deadline
    ) async throws -> MemcacheResponse {
        if Deadline.now() >= deadline { throw MemcacheDeadline.passed("before the request was sent") }
        let poolDeadline = self.connections.deadline(nil, on: pool)
        let leaseDeadline = min(poolDeadline, deadline)
        let callersDeadline = deadline <= poolDeadline
        var timer: Scheduled<Void>?
        defer { timer?.cancel() }
        let call = PooledMemcacheCall(
            RequestPayload(request: request, onPartial: onPartial), pool: pool, deadline: leaseDeadline,
            leaseTimeoutIsCallers: callersDeadline)
        return try await call.wait { _ in
            // Armed only now: a call finished before it is armed reads as cancelled.
            timer = pool.loop.scheduleTask(deadline: deadline) {
                call.finish(.failure(MemcacheDeadline.passed("before the reply")))
            }
            call.hop()
        }
    }

    /// On `pool`'s loop, for a completion: sends on a free connection, or queues a waiter
    /// that sends once it is served.
    private static func send(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?,
        responder: MemcacheClientHandler.Responder, pool: LoopPool<MemcachePooledConnection>, deadline: Deadline,
        leaseTimeoutIsCallers: Bool
    ) {
        if let served = pool.leaseIfReady() {
            Self.send(request, onPartial: onPartial, responder: responder, on: served)
            return
        }
        let waiter = PoolWaiter<MemcachePooledConnection>(deadline: deadline)
        waiter.callback = { leased in
            switch leased {
            case .success(let served): Self.send(request, onPartial: onPartial, responder: responder, on: served)
            case .failure(let error):
                responder.finish(.failure(Self.leaseFailure(error, leaseTimeoutIsCallers: leaseTimeoutIsCallers)))
            }
        }
        pool.enqueue(waiter)
    }

    /// Sends `request` on the connection leased for it, on its loop. A call cancelled
    /// meanwhile is not sent; its lease goes straight back.
    static func send(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?,
        responder: MemcacheClientHandler.Responder, on served: PoolWaiter<MemcachePooledConnection>.Served
    ) {
        Self.send(
            request, onPartial: onPartial, responder: responder, on: served.connection, served.id, of: served.owner)
    }

    /// `send(_:onPartial:responder:on:)` with the lease's parts apart, for a caller that
    /// holds them unretained.
    static func send(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?,
        responder: MemcacheClientHandler.Responder, on connection: MemcachePooledConnection, _ id: ConnectionID,
        of pool: LoopPool<MemcachePooledConnection>
    ) {
        guard Self.takeLease(for: responder, on: connection, id, of: pool) else { return }
        connection.handler.send(request, onPartial: onPartial, releasesLease: true, responder: responder)
    }

    /// `send(_:onPartial:responder:on:_:of:)` for `get`'s `mg <key> v`, written from the key.
    static func sendValueGet(
        _ key: MemcacheKey, responder: MemcacheClientHandler.Responder, on connection: MemcachePooledConnection,
        _ id: ConnectionID, of pool: LoopPool<MemcachePooledConnection>
    ) {
        guard Self.takeLease(for: responder, on: connection, id, of: pool) else { return }
        connection.handler.sendValueGet(key, releasesLease: true, responder: responder)
    }

    /// Makes the connection's handler give this lease back with the reply; false (the lease
    /// given back at once) when the call was cancelled meanwhile and is not to be sent.
    @inline(__always)
    private static func takeLease(
        for responder: borrowing MemcacheClientHandler.Responder, on connection: MemcachePooledConnection,
        _ id: ConnectionID, of pool: LoopPool<MemcachePooledConnection>
    ) -> Bool {
        connection.bindLeaseRelease(owner: pool, id: id)
        // Borrowed: matching a copy retained and released the call once per pooled send.
        switch responder {
        case .call(let call) where !call.isWaiting:
            pool.release(id, connection)
            return false
        default:
            return true
        }
    }

    /// Sends `request` without suspending the caller: `completion` runs once, on a loop, with
    /// the reply (an error reply as a failure, as `send` throws it). For a route that waits on
    /// several servers at once without a task per server. Like `send`, it waits for a lease
    /// until the pool's lease timeout or `deadline` (the caller's `MemcacheDeadline`, which
    /// the route enforces on the reply itself), records the operation's metrics and sends a
    /// retryable request once more when its connection closed before any byte of the reply;
    /// it makes no span (a traced pool's routes use `send`).
    package func start(
        _ request: MemcacheRequest, deadline: Deadline?, retried: Bool = false,
        completion: @escaping @Sendable (Result<MemcacheResponse, any Error>) -> Void
    ) {
        let started = self.operationMetrics == nil ? nil : Deadline.now()
        let pool = self.homePool()
        let poolDeadline = self.connections.deadline(nil, on: pool)
        let leaseDeadline = deadline.map { min($0, poolDeadline) } ?? poolDeadline
        let callersDeadline = deadline.map { $0 <= poolDeadline } ?? false
        let responder = MemcacheClientHandler.Responder.completion { [self] result in
            if case .failure(let error) = result, !retried, request.isRetryable, self.configuration.retryIdempotent,
                Self.closedBeforeReply(error)
            {
                self.start(request, deadline: deadline, retried: true, completion: completion)
                return
            }
            let outcome: Result<MemcacheResponse, any Error> =
                if case .success(.error(let error)) = result { .failure(error) } else { result }
            if let started, let metrics = self.operationMetrics {
                switch outcome {
                case .success(let response):
                    metrics.record(request, response, duration: Deadline.now() - started)
                case .failure(let error):
                    metrics.record(
                        command: request.commandName, outcome: operationOutcome(of: error),
                        duration: Deadline.now() - started)
                }
            }
            completion(outcome)
        }
        if pool.loop.inEventLoop {
            Self.send(
                request, onPartial: nil, responder: responder, pool: pool, deadline: leaseDeadline,
                leaseTimeoutIsCallers: callersDeadline)
        } else {
            pool.loop.execute {
                Self.send(
                    request, onPartial: nil, responder: responder, pool: pool, deadline: leaseDeadline,
                    leaseTimeoutIsCallers: callersDeadline)
            }
        }
    }

    /// Stops the pool: see `ConnectionPool.shutdown(deadline:)`.
    public func shutdown(deadline: TimeAmount = .seconds(10)) async {
        await self.connections.shutdown(deadline: deadline)
    }

    public func statistics() async -> PoolStatistics {
        await self.connections.statistics()
    }
}
