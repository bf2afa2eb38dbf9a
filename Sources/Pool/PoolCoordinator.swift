import Channels
import Logging
import Synchronization

/// What the loops of one pool share, and how they cooperate.
///
/// Thread-safe: immutable after `connect(loopPools:)`, which runs once before any lease
/// (weak references are loaded atomically by the runtime); the budget and the breaker are
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
    /// Weak: each `LoopPool` holds this object, and the pool owns the `LoopPool`s.
    private var siblings: [Sibling] = []

    private struct Sibling {
        weak var pool: LoopPool<Connection>?
    }

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
        self.siblings = loopPools.map { Sibling(pool: $0) }
    }

    /// The sub-pools still alive (all of them while the `ConnectionPool` is).
    var loopPools: [LoopPool<Connection>] { self.siblings.compactMap(\.pool) }

    func loopPool(at index: Int) -> LoopPool<Connection>? {
        self.siblings.indices.contains(index) ? self.siblings[index].pool : nil
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
