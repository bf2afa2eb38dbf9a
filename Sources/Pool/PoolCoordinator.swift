import Channels
import Logging
import Synchronization

/// What the loops of one pool share, and how they cooperate.
///
/// Thread-safe: the sibling list is set once by `connect(loopPools:)` before any lease and
/// emptied once by `disconnect()`, both under its lock; the budget and the breaker are
/// thread-safe themselves.
///
/// The cross-loop protocol, all of it (each loop's own decisions are its `LoopPoolMachine`'s):
/// - **Budget.** `maxConnections` holds over all loops. A loop reserves a unit before each
///   connect and returns it when the connection (or the connect) is gone. A loop refused
///   while it has waiters is *starved*: it records itself in the budget and asks every other
///   loop to *yield*.
/// - **Yield.** A loop asked to yield closes one idle connection if it has no waiters and
///   stays at or above its minimum; the unit that returns wakes the starved loops
///   (`budgetFreed`), which connect.
/// - **Breaker.** One per pool: after a connect failure, connects are refused (and stranded
///   waiters fail fast with the last error) until a backoff passes; then one probe is let
///   through (`ConnectBreaker`).
/// - **Handoff** (`.preferred` affinity). A loop offers a waiter that waited long (or is
///   close to its deadline) to the first other loop that can serve it now: one with a
///   connection with room, or with room and budget to connect (each loop publishes that in
///   `LoopPool.canServeNow`). The waiter moves there, adopted, and never moves again; its
///   cancellation follows it.
final class PoolCoordinator<Connection: PoolableConnection>: @unchecked Sendable { // SAFETY: siblings set once, early
    let configuration: ConnectionPoolConfiguration
    let factory: LoopPool<Connection>.Factory
    let budget: ConnectionBudget
    let breaker: SharedConnectBreaker
    let observer: (@Sendable (PoolEvent) -> Void)?
    /// The configured logger with the pool's name as metadata.
    let logger: Logger
    /// Strong, though each `LoopPool` holds this object too: the `ConnectionPool` breaks the
    /// cycle when it goes (`disconnect()`). Not weak on purpose: an object that is weakly
    /// referenced keeps its reference counts in a side table, and every retain and release
    /// of a `LoopPool` — several per pooled request — then takes the runtime's slow path.
    private let siblings = LockedValue<[LoopPool<Connection>]>([])

    init(
        configuration: ConnectionPoolConfiguration,
        observer: (@Sendable (PoolEvent) -> Void)?,
        factory: @escaping LoopPool<Connection>.Factory
    ) {
        self.configuration = configuration
        self.factory = factory
        self.observer = observer
        var logger = configuration.logger
        logger[metadataKey: "pool"] = "\(configuration.name)"
        self.logger = logger
        self.budget = ConnectionBudget(cap: configuration.maxConnections)
        self.breaker = SharedConnectBreaker(backoff: configuration.backoff)
    }

    func connect(loopPools: [LoopPool<Connection>]) {
        self.siblings.withLock { $0 = loopPools }
    }

    /// Lets go of the sub-pools (the `ConnectionPool` is gone): cross-loop help stops, and
    /// each sub-pool is freed once its own work is done.
    func disconnect() {
        self.siblings.withLock { $0 = [] }
    }

    /// The sub-pools, while the `ConnectionPool` lives (none after).
    var loopPools: [LoopPool<Connection>] { self.siblings.withLock { $0 } }

    func loopPool(at index: Int) -> LoopPool<Connection>? {
        self.siblings.withLock { $0.indices.contains(index) ? $0[index] : nil }
    }

    func observe(_ event: PoolEvent) {
        self.observer?(event)
    }

    /// Loop `index` is starved for budget: every other loop is asked to yield.
    func askOthersToYield(except index: Int) {
        for pool in self.loopPools where pool.index != index {
            pool.loop.execute { pool.yieldIdleConnection() }
        }
    }

    /// A loop other than `index` that can serve a waiter now, if any.
    func handoffTarget(from index: Int) -> LoopPool<Connection>? {
        self.loopPools.first { $0.index != index && $0.canServeNow.load(ordering: .relaxed) }
    }
}
