import Channels

/// What every loop of one pool shares: configuration, factory, budget, breaker, siblings.
///
/// Thread-safe: immutable after `connect(loopPools:)`, which runs once before any lease;
/// budget and breaker are thread-safe themselves.
final class PoolShared<Connection: PoolableConnection>: @unchecked Sendable {  // SAFETY: loopPools is set once, before publication
    let configuration: ConnectionPoolConfiguration
    let factory: LoopPool<Connection>.Factory
    let budget: ConnectionBudget
    let breaker: SharedConnectBreaker
    let observer: (@Sendable (PoolEvent) -> Void)?
    private(set) var loopPools: [LoopPool<Connection>] = []

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
        self.loopPools = loopPools
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
