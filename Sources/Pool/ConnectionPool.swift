public import Channels
import Synchronization

/// A pool of ready connections (whole pipelines) over an event-loop group: one sub-pool per
/// loop, leases served on the caller's own loop, requests queued per loop when every
/// connection is busy.
///
/// Thread-safe. A caller running on one of the group's loops (for instance inside
/// `withTaskExecutorPreference(loop)`) is served by that loop's sub-pool without a thread
/// hop; other callers are spread round robin, passing over a sleeping loop while another
/// is awake and has a connection with room (see `indexForCallerOffTheLoops`). Connections
/// never change loop; with `.preferred` affinity a waiter that waited too long on a
/// saturated loop moves instead.
///
/// ```swift
/// // LineConnection holds the channel and its PipelinedClientHandler (see the Getting
/// // started article for the whole type).
/// let pool = ConnectionPool<LineConnection>(group: group, configuration: .init(maxConnections: 8)) { loop in
///     let handler = LineConnection.Handler(encoder: LineEncoder(), decoder: LineFrameDecoder(maximumLength: 4096))
///     return ClientBootstrap(loop: loop)
///         .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(handler) }
///         .connect(host: "127.0.0.1", port: 7000)
///         .map { LineConnection(channel: $0, handler: handler) }
/// }
/// let reply = try await pool.withConnection { connection in try await connection.ask("PING") }
/// await pool.shutdown()
/// ```
public final class ConnectionPool<Connection: PoolableConnection>: Sendable {
    public let configuration: ConnectionPoolConfiguration
    package let group: EventLoopGroup
    @usableFromInline package let loopPools: [LoopPool<Connection>]
    /// `loopPools.count`.
    private let loopCount: Int
    /// Each loop pool's queue and room, read when routing a caller off the loops (no generic
    /// metadata).
    private let loopQueues: [LoopWorkQueue]
    private let loopRooms: [LoopRoom]
    private let coordinator: PoolCoordinator<Connection>
    private let cursor = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)

    /// Starts a pool; connections open on demand (and `minConnectionsPerLoop` at once).
    ///
    /// - Parameters:
    ///   - group: the loops; each gets a sub-pool, and connections never leave their loop.
    ///   - configuration: sizes, timeouts, affinity, logging and metrics.
    ///   - observer: receives every `PoolEvent`, on the loop where it happened.
    ///   - factory: builds one ready connection on the given loop (connected, pipeline
    ///     installed, TLS handshaken). The pool bounds it with `connectTimeout`.
    public init(
        group: EventLoopGroup,
        configuration: ConnectionPoolConfiguration,
        observer: (@Sendable (PoolEvent) -> Void)? = nil,
        factory: @escaping @Sendable (any EventLoop) -> EventLoopFuture<Connection>
    ) {
        self.configuration = configuration
        self.group = group
        let coordinator = PoolCoordinator<Connection>(
            configuration: configuration, observer: observer, factory: factory)
        let loops = group.loops
        let limits = LoopPool<Connection>.Machine.Limits(
            maxConnections: configuration.perLoopCap(loopCount: loops.count),
            maxLeasesPerConnection: max(1, configuration.maxConcurrentLeasesPerConnection),
            maxConnecting: max(1, configuration.maxConnectingPerLoop),
            maxWaiters: max(0, configuration.maxWaitersPerLoop),
            minConnections: max(0, configuration.minConnectionsPerLoop),
            idleTimeout: configuration.idleTimeout,
            maxLifetime: configuration.maxLifetime,
            handoffAfter: {
                if case .preferred(let after) = configuration.affinity, loops.count > 1 { return after }
                return nil
            }(),
            measuresUseTime: configuration.metricsBackend != nil || configuration.longLeaseWarning != nil,
            lifetimeJitter: configuration.lifetimeJitter,
            maxUses: configuration.maxUsesPerConnection.map { max(1, $0) },
            longLease: configuration.longLeaseWarning,
            keepAliveInterval: configuration.keepAlive?.interval,
            publishesRoom: loops.count > 1)
        self.loopPools = loops.enumerated().map { index, loop in
            LoopPool(loop: loop, index: index, limits: limits, coordinator: coordinator)
        }
        self.loopCount = loops.count
        self.loopQueues = self.loopPools.map(\.workQueue)
        self.loopRooms = self.loopPools.map(\.room)
        coordinator.connect(loopPools: self.loopPools)
        self.coordinator = coordinator
        for pool in self.loopPools { pool.loop.execute { pool.start() } }
    }

    /// A pool dropped without `shutdown()` still closes its connections (without waiting).
    deinit {
        // The sub-pools and the coordinator hold each other; this ends that.
        self.coordinator.disconnect()
        guard !self.isShutDown.load(ordering: .acquiring) else { return }
        for pool in self.loopPools { pool.loop.execute { pool.shutdown(promise: nil) } }
    }

    /// Leases a connection, waiting (first in, first out on its loop) while all are busy.
    ///
    /// - Parameter timeout: how long to wait at most; the configured `leaseTimeout` when nil
    ///   (the shorter of the two applies).
    /// - Throws: `PoolError` (`.leaseTimeout`, `.tooManyWaiters`, `.connectFailed`,
    ///   `.shutdown`, `.cancelled`).
    @inlinable
    public func lease(timeout: TimeAmount? = nil) async throws -> ConnectionLease<Connection> {
        let (index, isOnItsLoop) = self.home()
        let pool = self.loopPools[index]
        if isOnItsLoop, let served = pool.leaseIfReady() {
            return ConnectionLease(connection: served.connection, id: served.id, owner: served.owner)
        }
        let served = try await self.queueAndWait(on: pool, timeout: timeout) { served, continuation in
            continuation.resume(returning: served)
        }
        return ConnectionLease(connection: served.connection, id: served.id, owner: served.owner)
    }

    /// Leases a connection and runs `body` on the connection's loop in the same loop turn,
    /// with no hop between the lease and the use; `body` calls `done` exactly once, on that
    /// loop, which releases the connection and resumes the caller with the result.
    ///
    /// The fast path for request/response protocols: a caller already on one of the pool's
    /// loops (`withTaskExecutorPreference(loop)`) with a free connection there takes no hop at
    /// all, and its request leaves with every other request of the turn (see
    /// `ChannelHandlerContext.flushAtEndOfTurn()`); any other caller hops to a loop once and is
    /// resumed once. `body` is loop-confined: it may use the connection's pipeline directly
    /// (`channel.pipeline.syncOperations`) and must not block.
    ///
    /// ```swift
    /// let answer = try await pool.withConnectionOnLoop { connection, done in
    ///     connection.ask("PING", done: done)   // writes on the loop; `done` runs with the reply
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - timeout: how long to wait for a connection at most (see `lease(timeout:)`).
    ///   - body: runs on the connection's loop with the connection and `done`, which it calls
    ///     exactly once with the result.
    /// - Throws: `PoolError` when no connection can be leased, or the error `body` reported.
    // Inlinable (like `lease` and `withConnection`), so that it is compiled where `Connection`
    // and `Value` are known: run unspecialized from another module, it looked up generic type
    // metadata twice per call.
    @inlinable
    public func withConnectionOnLoop<Value: Sendable>(
        timeout: TimeAmount? = nil,
        _ body: @escaping @Sendable (Connection, _ done: @escaping @Sendable (Result<Value, any Error>) -> Void) -> Void
    ) async throws -> Value {
        let (index, isOnItsLoop) = self.home()
        let pool = self.loopPools[index]
        @Sendable func use(_ served: PoolWaiter<Connection>.Served, _ continuation: LoopContinuation<Value>) {
            body(served.connection) { result in
                served.owner.release(served.id, served.connection)
                continuation.resume(with: result)
            }
        }
        if isOnItsLoop, let (id, connection) = pool.leaseConnectionIfReady() {
            // SAFETY: the loop pool holds the connection until its channel has closed, on this
            // loop; `use` takes its own references (in `done`) before this returns to the loop.
            return try await withLoopContinuation { continuation in
                use((id, connection.takeUnretainedValue(), pool), continuation)
            }
        }
        return try await self.queueAndWait(on: pool, timeout: timeout, then: use)
    }

    /// Queues a waiter on `pool` and suspends until it is served (then `then` runs on the
    /// serving loop and resumes the caller), fails, or is cancelled with the task.
    @usableFromInline
    func queueAndWait<Value>(
        on pool: LoopPool<Connection>,
        timeout: TimeAmount?,
        then: @escaping @Sendable (PoolWaiter<Connection>.Served, LoopContinuation<Value>) -> Void
    ) async throws -> Value {
        let waiter = PoolWaiter<Connection>(deadline: self.deadline(timeout, on: pool))
        waiter.queuedOn = pool
        let record = TaskCancellationRecord(notifying: waiter)
        defer { record.remove() }
        return try await withLoopContinuation { continuation in
            waiter.callback = { leased in
                switch leased {
                case .success(let served): then(served, continuation)
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
            pool.submit(waiter)
        }
    }

    package func deadline(_ timeout: TimeAmount?, on pool: LoopPool<Connection>) -> Deadline {
        pool.loop.now + min(timeout ?? self.configuration.leaseTimeout, self.configuration.leaseTimeout)
    }

    /// Runs `body` with a leased connection and gives the connection back however `body`
    /// ends (value, error, cancellation). A connection left unusable (closed, or with a
    /// response outstanding) is closed instead of reused.
    @inlinable
    public func withConnection<Result>(
        timeout: TimeAmount? = nil,
        _ body: (Connection) async throws -> Result
    ) async throws -> Result {
        let lease = try await self.lease(timeout: timeout)
        do {
            let result = try await body(lease.connection)
            lease.release()
            return result
        } catch {
            lease.release()
            throw error
        }
    }

    /// The index in `loopPools` of the caller's home — its own loop if it is one of the
    /// group's, else the one `indexForCallerOffTheLoops()` picks — and whether the caller runs
    /// on it. An index, not the loop pool: the inlinable callers index `loopPools` where
    /// `Connection` is known (returning `LoopPool<Connection>` from here looked up its
    /// metadata on every call). The caller is on its home's loop exactly when the thread is one
    /// of the group's loops (one loop pool per loop, in the group's order): asking the loop
    /// (`inEventLoop`, through the `any EventLoop` existential) retained and released it.
    @usableFromInline
    package func home() -> (index: Int, isOnItsLoop: Bool) {
        if let index = self.group.currentIndex { return (index, true) }
        return (self.indexForCallerOffTheLoops(), false)
    }

    /// The index in `loopPools` for a caller on none of the loops: the next one round robin,
    /// unless another is awake, not swamped and has room where that one is not
    /// (`LoopChoice`: why, and the measurements).
    ///
    /// Needs no type metadata: a caller that knows the connection type indexes `loopPools`
    /// (or its own copy of it) with the answer.
    package func indexForCallerOffTheLoops() -> Int {
        let next = (self.cursor.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max) % self.loopCount
        // With resumed tasks kept on the loops, the loop of a task's first call is its home
        // from then on: homes spread round robin (an awake loop first put 64 callers' homes
        // on one loop: 0.73x the gets per second).
        guard self.loopCount > 1, !EventLoopGroup.keepsResumedTasksOnLoops else { return next }
        return self.awakeLoopFirst(from: next)
    }

    /// `LoopChoice.preferred` over this pool's loops, from loop `next` on.
    package func awakeLoopFirst(from next: Int) -> Int {
        LoopChoice.preferred(from: next, queues: self.loopQueues, rooms: self.loopRooms)
    }

    /// The counts of every loop, read on each loop.
    public func statistics() async -> PoolStatistics {
        var loops: [PoolStatistics.Loop] = []
        for pool in self.loopPools {
            let statistics = try? await pool.loop.submit { pool.statistics() }.get()
            loops.append(statistics ?? PoolStatistics.Loop())
        }
        return PoolStatistics(loops: loops)
    }

    /// Stops leasing (waiters fail with `PoolError.shutdown`), closes idle connections, lets
    /// leased ones finish until `deadline` and then closes them too. Idempotent.
    public func shutdown(deadline: TimeAmount = .seconds(10)) async {
        let first = !self.isShutDown.exchange(true, ordering: .acquiringAndReleasing)
        var futures: [EventLoopFuture<Void>] = []
        for pool in self.loopPools {
            let promise = pool.loop.makePromise(of: Void.self)
            if first {
                pool.loop.execute { pool.shutdown(promise: promise) }
                pool.loop.scheduleTask(in: deadline) { pool.forceClose() }
            } else {
                pool.loop.execute { pool.whenShutDown(promise) }
            }
            futures.append(promise.futureResult)
        }
        for future in futures { try? await future.get() }
    }
}
