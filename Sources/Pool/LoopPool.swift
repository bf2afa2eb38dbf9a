import Channels
import Synchronization

/// One loop's sub-pool: executes `LoopPoolStateMachine` decisions on its loop.
///
/// Loop-confined: every method runs on `loop`, except `submit`, `cancelFromAnyThread` and
/// `release`, which hop there (`release` runs at once when already on the loop). The lease
/// and release path takes no lock; the pool-wide pieces (budget, breaker) are touched only
/// per connect and close.
final class LoopPool<Connection: PoolableConnection>: @unchecked Sendable {  // SAFETY: all mutable state is used on `loop` only
    typealias Factory = @Sendable (any EventLoop) -> EventLoopFuture<Connection>

    let loop: any EventLoop
    let index: Int
    private let shared: PoolShared<Connection>
    private var machine: LoopPoolStateMachine
    private var connections: [ConnectionID: Connection] = [:]
    private var waiters: [WaiterID: PoolWaiter<Connection>] = [:]
    /// Connects started and not yet resolved (by success, failure or the connect timeout).
    private var pendingConnects: Set<ConnectionID> = []
    private var lastConnectError: (any Error)?
    private var waiterTimer: Scheduled<Void>?
    private var waiterTimerDeadline = Deadline.distantFuture
    private var maintenanceTimer: Scheduled<Void>?
    private var shutdownPromises: [EventLoopPromise<Void>] = []
    /// Read by other loops to pick a handoff target.
    let hasCapacity = Atomic<Bool>(true)
    private var publishedCapacity = true

    init(loop: any EventLoop, index: Int, limits: LoopPoolStateMachine.Limits, shared: PoolShared<Connection>) {
        self.loop = loop
        self.index = index
        self.machine = LoopPoolStateMachine(limits: limits)
        self.shared = shared
    }

    // MARK: Leasing

    /// A ready connection for a caller on this loop that need not wait, or nil.
    func leaseIfReady() -> PoolWaiter<Connection>.Served? {
        guard let id = self.machine.leaseIfReady() else { return nil }
        guard let connection = self.connections[id] else {
            // Unreachable: ready slots always have their connection recorded.
            _ = self.machine.release(id, reusable: false, now: self.loop.now)
            return nil
        }
        self.publishCapacity()
        return (id, connection, self)
    }

    /// Queues `waiter` from any thread (served, failed or cancelled later on a loop).
    func submit(_ waiter: PoolWaiter<Connection>) {
        // One closure, not two (executeOnLoopUnchecked wraps): both the pool and the waiter
        // are Sendable, and this is once per request from callers off the loop.
        if self.loop.inEventLoop {
            self.enqueue(waiter)
        } else {
            self.loop.execute { self.enqueue(waiter) }
        }
    }

    /// Cancels `waiter` from any thread (the task's cancellation handler).
    func cancelFromAnyThread(_ waiter: PoolWaiter<Connection>) {
        waiter.cancelled.store(true, ordering: .releasing)
        self.loop.execute { self.cancel(waiter) }
    }

    /// Adds a caller on this loop: served at once if possible, else queued.
    func enqueue(_ waiter: PoolWaiter<Connection>) {
        guard !waiter.cancelled.load(ordering: .acquiring) else {
            waiter.resume(.failure(PoolError(.cancelled, "the task was cancelled while waiting for a connection")))
            return
        }
        let now = self.loop.now
        switch self.machine.lease(now: now, deadline: waiter.deadline, adopted: waiter.adopted) {
        case .lease(let id):
            self.serve(waiter, with: id)
        case .wait(let id, let connect):
            waiter.id = id
            self.waiters[id] = waiter
            if let connect { self.startConnect(connect) }
            self.armWaiterTimer()
        case .fail(let code):
            waiter.resume(.failure(self.error(code)))
            self.shared.observe(.leaseFailed(loop: self.index, code))
        }
        self.publishCapacity()
    }

    func release(_ id: ConnectionID, _ connection: Connection) {
        guard self.loop.inEventLoop else {
            self.loop.execute { self.release(id, connection) }
            return
        }
        let reusable = connection.isReusable(isLastLease: self.machine.leases(of: id) <= 1)
        let decision = self.machine.release(id, reusable: reusable, now: self.loop.now)
        switch decision {
        case .keep:
            // Another loop waits for budget this loop holds: give back what just went idle.
            if self.shared.budget.hasStarvedLoops { self.yieldIdleConnection() }
        case .handTo(let waiterID, _):
            if let waiter = self.waiters.removeValue(forKey: waiterID) {
                waiter.resume(.success((id, connection, self)))
            }
        case .close(let closing, let connect):
            _ = self.connections[closing]?.channel.close()
            if let connect { self.startConnect(connect) }
        }
        self.publishCapacity()
    }

    private func serve(_ waiter: PoolWaiter<Connection>, with id: ConnectionID) {
        guard let connection = self.connections[id] else {
            // The machine only leases ready slots, whose connection is always recorded.
            waiter.resume(.failure(PoolError(.connectFailed, "internal: leased connection \(id) is unknown")))
            return
        }
        waiter.resume(.success((id, connection, self)))
    }

    private func cancel(_ waiter: PoolWaiter<Connection>) {
        if let handedTo = waiter.handedTo {
            handedTo.loop.execute { handedTo.cancel(waiter) }
            return
        }
        guard let id = waiter.id, self.machine.cancel(id), self.waiters.removeValue(forKey: id) != nil else { return }
        waiter.resume(.failure(PoolError(.cancelled, "the task was cancelled while waiting for a connection")))
        self.publishCapacity()
    }

    // MARK: Connecting

    private func startConnect(_ id: ConnectionID) {
        guard self.shared.budget.tryReserve() else {
            self.machine.connectDenied(id)
            if self.machine.isStarved {
                self.shared.budget.markStarved(loop: self.index)
                self.shared.askOthersToYield(except: self.index)
            }
            return
        }
        if case .refuse(let lastError) = self.shared.breaker.mayConnect(now: self.loop.now) {
            self.returnBudget()
            self.lastConnectError = lastError
            self.execute(self.machine.connectFailed(id, refused: true))
            return
        }
        self.pendingConnects.insert(id)
        let timeout = self.loop.scheduleTask(in: self.shared.configuration.connectTimeout) { [self] in
            self.connectResolved(id, .failure(PoolError(.connectFailed, "connect timed out after \(self.shared.configuration.connectTimeout)")))
        }
        self.shared.factory(self.loop).whenComplete { [self] result in
            timeout.cancel()
            self.loop.executeOnLoopUnchecked { self.connectResolved(id, result) }
        }
    }

    private func connectResolved(_ id: ConnectionID, _ result: Result<Connection, any Error>) {
        guard self.pendingConnects.remove(id) != nil else {
            // Resolved already (timed out): a late connection is closed unused.
            if case .success(let late) = result { _ = late.channel.close() }
            return
        }
        switch result {
        case .success(let connection):
            self.shared.breaker.connectSucceeded()
            self.connections[id] = connection
            connection.channel.closeFuture.whenComplete { [self] _ in
                self.loop.executeOnLoopUnchecked { self.connectionClosed(id) }
            }
            self.shared.observe(.connected(loop: self.index))
            self.execute(self.machine.connectSucceeded(id, now: self.loop.now))
        case .failure(let error):
            self.shared.breaker.connectFailed(error, now: self.loop.now)
            self.returnBudget()
            self.lastConnectError = error
            self.shared.observe(.connectFailed(loop: self.index, error))
            self.execute(self.machine.connectFailed(id))
        }
        self.publishCapacity()
    }

    private func connectionClosed(_ id: ConnectionID) {
        guard self.connections.removeValue(forKey: id) != nil else { return }
        self.returnBudget()
        self.shared.observe(.closed(loop: self.index))
        if let connect = self.machine.connectionClosed(id, now: self.loop.now) { self.startConnect(connect) }
        self.publishCapacity()
        self.completeShutdownIfDone()
    }

    private func returnBudget() {
        for loop in self.shared.budget.release() {
            guard let pool = self.shared.loopPool(at: loop) else { continue }
            pool.loop.execute { pool.budgetFreed() }
        }
    }

    func budgetFreed() {
        if let connect = self.machine.budgetFreed(now: self.loop.now) { self.startConnect(connect) }
    }

    func yieldIdleConnection() {
        if let id = self.machine.yieldIdleConnection() { _ = self.connections[id]?.channel.close() }
    }

    // MARK: Actions and timers

    private func execute(_ actions: [LoopPoolStateMachine.Action]) {
        for action in actions {
            switch action {
            case .lease(let id, let waiterID, _):
                if let waiter = self.waiters.removeValue(forKey: waiterID) { self.serve(waiter, with: id) }
            case .connect(let id):
                self.startConnect(id)
            case .close(let id):
                _ = self.connections[id]?.channel.close()
            case .fail(let waiterID, let code):
                if let waiter = self.waiters.removeValue(forKey: waiterID) {
                    waiter.resume(.failure(self.error(code)))
                    self.shared.observe(.leaseFailed(loop: self.index, code))
                }
            case .offerHandoff(let waiterID):
                self.offerHandoff(waiterID)
            }
        }
    }

    private func offerHandoff(_ waiterID: WaiterID) {
        guard let target = self.shared.loopPools.first(where: { $0 !== self && $0.hasCapacity.load(ordering: .relaxed) }),
            let waiter = self.waiters[waiterID], self.machine.handedOff(waiterID)
        else { return }
        self.waiters[waiterID] = nil
        waiter.handedTo = target
        waiter.adopted = true
        target.loop.execute { target.enqueue(waiter) }
    }

    private func armWaiterTimer() {
        let next = self.machine.nextWaiterDeadline
        guard next < self.waiterTimerDeadline else { return }
        self.waiterTimer?.cancel()
        self.waiterTimerDeadline = next
        self.waiterTimer = self.loop.scheduleTask(deadline: next) { [self] in
            self.waiterTimerDeadline = .distantFuture
            self.waiterTimer = nil
            self.tick()
        }
    }

    private func tick() {
        self.execute(self.machine.tick(now: self.loop.now))
        self.armWaiterTimer()
        self.publishCapacity()
    }

    /// Starts the periodic maintenance (idle timeout, lifetime, pre-warming).
    func start() {
        self.tick()
        self.scheduleMaintenance()
    }

    private func scheduleMaintenance() {
        let interval = max(TimeAmount.milliseconds(100), min(self.shared.configuration.idleTimeout, .seconds(1)))
        self.maintenanceTimer = self.loop.scheduleTask(in: interval) { [self] in
            guard !self.machine.isShuttingDown else { return }
            self.tick()
            self.scheduleMaintenance()
        }
    }

    private func publishCapacity() {
        let capacity = self.machine.hasCapacity
        if capacity != self.publishedCapacity {
            self.publishedCapacity = capacity
            self.hasCapacity.store(capacity, ordering: .relaxed)
        }
    }

    private func error(_ code: PoolError.Code) -> PoolError {
        switch code {
        case .tooManyWaiters:
            return PoolError(code, "loop \(self.index) already has \(self.shared.configuration.maxWaitersPerLoop) waiters")
        case .leaseTimeout:
            return PoolError(code, "no connection became free in time", cause: self.lastConnectError)
        case .connectFailed:
            return PoolError(code, "cannot connect", cause: self.lastConnectError)
        case .shutdown:
            return PoolError(code, "the pool is shut down")
        default:
            return PoolError(code, "\(code)")
        }
    }

    // MARK: Shutdown and statistics

    func shutdown(promise: EventLoopPromise<Void>?) {
        if let promise { self.shutdownPromises.append(promise) }
        guard !self.machine.isShuttingDown else { return self.completeShutdownIfDone() }
        self.maintenanceTimer?.cancel()
        self.execute(self.machine.shutdown())
        self.completeShutdownIfDone()
    }

    func forceClose() {
        self.execute(self.machine.forceClose())
    }

    private func completeShutdownIfDone() {
        guard self.machine.isShuttingDown, self.machine.slots.isEmpty, self.pendingConnects.isEmpty else { return }
        self.waiterTimer?.cancel()
        let promises = self.shutdownPromises
        self.shutdownPromises.removeAll()
        for promise in promises { promise.succeed() }
    }

    /// Completes `promise` once this loop's shutdown is complete (a second `shutdown` call).
    func whenShutDown(_ promise: EventLoopPromise<Void>) {
        self.shutdownPromises.append(promise)
        self.completeShutdownIfDone()
    }

    func statistics() -> PoolStatistics.Loop {
        let counters = self.machine.counters
        return PoolStatistics.Loop(
            idle: self.machine.idleCount, leased: self.machine.leasedCount, connecting: self.machine.connectingCount,
            waiting: self.machine.waiters.count, activeLeases: self.machine.activeLeases,
            created: counters.created, closed: counters.closed, connectFailures: counters.connectFailures,
            leases: counters.leases, waitedLeases: counters.waitedLeases, totalWait: counters.totalWait,
            maxWait: counters.maxWait)
    }
}

extension EventLoop {
    /// `executeOnLoop` for the pool's loop-confined closures (they run only on this loop).
    func executeOnLoopUnchecked(_ task: @escaping () -> Void) {
        if self.inEventLoop {
            task()
        } else {
            let transfer = PoolTransfer(task)
            self.execute { transfer.value() }
        }
    }
}

/// SAFETY: carries a closure over loop-confined pool state to the loop that owns the state;
/// the closure only runs there.
struct PoolTransfer<Value>: @unchecked Sendable {  // SAFETY: see the type comment
    let value: Value
    init(_ value: Value) { self.value = value }
}
