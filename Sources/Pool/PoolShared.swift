import Channels

/// What every loop of one pool shares: configuration, factory, budget, breaker, siblings.
///
/// Thread-safe: immutable after `connect(loopPools:)`, which runs once before any lease
/// (weak references are loaded atomically by the runtime); budget and breaker are
/// thread-safe themselves.
final class PoolShared<Connection: PoolableConnection>: @unchecked Sendable {  // SAFETY: siblings is set once, before publication
    let configuration: ConnectionPoolConfiguration
    let factory: LoopPool<Connection>.Factory
    let budget: ConnectionBudget
    let breaker: SharedConnectBreaker
    let observer: (@Sendable (PoolEvent) -> Void)?
    /// Weak: each `LoopPool` holds this object, and the pool owns the `LoopPool`s.
    private var siblings: [Sibling] = []

    private struct Sibling {
        weak var pool: LoopPool<Connection>?
    }

    /// The sub-pools still alive (all of them while the `ConnectionPool` is).
    var loopPools: [LoopPool<Connection>] { self.siblings.compactMap(\.pool) }

    func loopPool(at index: Int) -> LoopPool<Connection>? {
        self.siblings.indices.contains(index) ? self.siblings[index].pool : nil
    }

    init(
        configuration: ConnectionPoolConfiguration,
        observer: (@Sendable (PoolEvent) -> Void)?,
        factory: @escaping LoopPool<Connection>.Factory
    ) {
        self.configuration = configuration
        self.factory = factory
        self.observer = observer
        self.budget = ConnectionBudget(cap: configuration.maxConnections)
        self.breaker = SharedConnectBreaker(backoff: configuration.backoff)
    }

    func connect(loopPools: [LoopPool<Connection>]) {
        self.siblings = loopPools.map { Sibling(pool: $0) }
    }

    func observe(_ event: PoolEvent) {
        self.observer?(event)
    }

    /// A loop is starved for budget: every other loop closes one idle connection, if it has
    /// one and no waiters, which returns budget (and wakes the starved loop).
    func askOthersToYield(except index: Int) {
        for pool in self.loopPools where pool.index != index {
            pool.loop.execute { pool.yieldIdleConnection() }
        }
    }
}
