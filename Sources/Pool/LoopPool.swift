public import Channels
import CoreMetrics
import Logging
import Synchronization

/// One loop's sub-pool: feeds every event to its `LoopPoolMachine` and executes the action
/// it answers with, in one place (`execute`).
///
/// Loop-confined: every method runs on `loop`, except `submit`, `cancelFromAnyThread` and
/// `release`, which hop there (`release` runs at once when already on the loop). The lease
/// and release path takes no lock; the pool-wide pieces (budget, breaker) are touched only
/// per connect and close (see `PoolCoordinator` for how the loops cooperate).
@usableFromInline
package final class LoopPool<Connection: PoolableConnection>: @unchecked Sendable { // SAFETY: state on `loop` only
    typealias Factory = @Sendable (any EventLoop) -> EventLoopFuture<Connection>
    /// The machine, with its connection and waiter types erased: one instantiation for
    /// every pool, so its code is specialized in this module whatever `Connection` a user
    /// pools (left generic, code in another module ran it unspecialized: a lease and release
    /// took 2.4 µs instead of 0.26, looking up generic metadata). The connections it hands
    /// back are only ever what this loop gave it, so the pool downcasts them without a check
    /// (`connection(_:)`); waiters are called through their protocol.
    typealias Machine = LoopPoolMachine<AnyObject, any PoolWaiting>

    @usableFromInline package let loop: any EventLoop
    /// `loop`'s queue for work objects (`LoopWork`): the hop of a call made off the loop.
    package let workQueue: LoopWorkQueue
    let index: Int
    private let coordinator: PoolCoordinator<Connection>
    /// Unchecked exclusivity: the machine is pure value code confined to the loop, and the
    /// one closure it runs inside an access (`release`'s reuse check) only asks the
    /// connection; the runtime's check cost ~4 accesses per lease and release.
    @exclusivity(unchecked) private var machine: Machine
    private var waiterTimer: Scheduled<Void>?
    private var waiterTimerDeadline = Deadline.distantFuture
    private var maintenanceTimer: Scheduled<Void>?
    private var shutdownPromises: [EventLoopPromise<Void>] = []
    /// Read by other loops choosing where to hand a waiter: a connection here has room, or
    /// one could be opened now. Published only when handoff is on.
    let canServeNow = Atomic<Bool>(true)
    private var publishedCanServeNow = true
    /// Read by callers off the loops choosing one (`ConnectionPool.indexForCallerOffTheLoops`):
    /// whether a connection here has room for a lease now. Published with `canServeNow`.
    let room = LoopRoom()
    private var publishedRoom = false
    private let publishes: Bool
    /// `canServeNow` is read only by handoffs: without them it is not worked out.
    private let publishesServeNow: Bool
    /// The pool's logger with this loop as metadata.
    private let logger: Logger
    /// Nil when the pool reports no metrics.
    private let metrics: PoolMetrics?
    /// When each connect in flight started, for `create_time`.
    private var connectStarted: [ConnectionID: Deadline] = [:]

    init(loop: any EventLoop, index: Int, limits: Machine.Limits, coordinator: PoolCoordinator<Connection>) {
        self.loop = loop
        self.workQueue = LoopWorkQueue(loop)
        self.index = index
        self.machine = Machine(limits: limits)
        self.coordinator = coordinator
        self.publishes = limits.handoffAfter != nil || limits.publishesRoom
        self.publishesServeNow = limits.handoffAfter != nil
        var logger = coordinator.logger
        logger[metadataKey: "loop"] = "\(index)"
        self.logger = logger
        self.metrics = coordinator.configuration.metricsBackend.map {
            PoolMetrics(
                pool: coordinator.configuration.name, loop: index, maxConnections: limits.maxConnections, factory: $0)
        }
    }

    // MARK: Leasing

    /// A ready connection for a caller on this loop that need not wait, or nil.
    /// `now`, when the caller has just read the clock, saves reading it again for the lease's
    /// use time.
    @usableFromInline
    package func leaseIfReady(now: Deadline? = nil) -> PoolWaiter<Connection>.Served? {
        guard let (id, connection) = self.leaseConnectionIfReady(now: now) else { return nil }
        // SAFETY: the slot holds the connection (see `leaseConnectionIfReady`); the answer
        // takes a strong reference of its own.
        return (id, connection.takeUnretainedValue(), self)
    }

    /// `leaseIfReady` for a caller that holds this pool already: without it in the answer,
    /// and the connection unretained (two retains and releases fewer per pooled get).
    // SAFETY: the pool holds the connection until its channel has closed, which happens on
    // this loop: the caller uses it at once, before returning to the loop.
    @usableFromInline
    package func leaseConnectionIfReady(now: Deadline? = nil) -> (id: ConnectionID, connection: Unmanaged<Connection>)?
    {
        self.loop.assertInEventLoop()
        guard let (id, connection) = self.machine.leaseIfReady(now: self.metrics == nil ? nil : now ?? self.loop.now)
        else { return nil }
        self.metrics?.leaseServed(waited: nil)
        self.publishCapacity()
        // SAFETY: the machine's slot holds the connection (see above).
        return (id, connection._withUnsafeGuaranteedRef { Unmanaged.passUnretained(Self.connection($0)) })
    }

    /// Queues `waiter` from any thread (served, failed or cancelled later on a loop).
    func submit(_ waiter: PoolWaiter<Connection>) {
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

    /// Adds a caller on this loop: served at once if possible, else queued. `handedOff`: the
    /// deadline it had on the loop that handed it here (where it is never offered on again).
    package func enqueue(_ waiter: any PoolWaiting, handedOff deadline: Deadline? = nil) {
        self.loop.assertInEventLoop()
        guard !waiter.waiterCancelled else {
            waiter.waiterFailed(PoolError(.cancelled, "the task was cancelled while waiting for a connection"))
            return
        }
        let now = self.loop.now
        let (queued, action) = self.machine.lease(
            waiter, now: now,
            deadline: deadline ?? waiter.waitDeadline ?? now + self.coordinator.configuration.leaseTimeout,
            adopted: deadline != nil)
        waiter.waiterQueued(as: queued)
        self.execute(action)
        if queued != nil { self.armWaiterTimer() }
    }

    /// Takes a connection back, from any thread (hops to the loop when called elsewhere).
    @usableFromInline
    package func release(_ id: ConnectionID, _ connection: Connection) {
        guard self.loop.inEventLoop else {
            self.loop.execute { self.release(id, connection) }
            return
        }
        self.releaseOnLoop(id, connection, now: self.loop.now)
    }

    /// `release` for a caller on this pool's loop that has read the clock already: `now` is
    /// when the lease ended, no later than the present (a connection's handler passes the
    /// time it read the replies that end a burst of leases: one clock read for all of them).
    package func releaseOnLoop(_ id: ConnectionID, _ connection: Connection, now: Deadline) {
        // Not `assertInEventLoop()`: a call through the existential, made in release builds too.
        assert(self.loop.inEventLoop, "a lease given back off its loop")
        let action = self.machine.release(id, now: now) { connection.isReusable(isLastLease: $0) }
        if let used = action.used { self.metrics?.leaseEnded(used: used) }
        // Another loop waits for budget this loop holds: give back what just went idle.
        if action.isEmpty, self.coordinator.budget.hasStarvedLoops,
            self.coordinator.budget.hasStarvedLoops(otherThan: self.index)
        {
            self.yieldIdleConnection()
        } else {
            self.execute(action)
        }
    }

    private func cancel(_ waiter: PoolWaiter<Connection>) {
        if let handedTo = waiter.handedTo {
            handedTo.loop.execute { handedTo.cancel(waiter) }
            return
        }
        guard let id = waiter.id else { return }
        self.execute(self.machine.cancel(id))
    }

    // MARK: Executing the machine's answers

    private func execute(_ action: consuming Machine.Action) {
        // Most actions serve no one (a lease given back with no waiter), and nearly all the
        // others one: it is moved out and handed over in place, the rest (seldom) from their
        // array. Iterating `serve` copied each one's waiter and connection once more.
        if let first = action.takeFirstServe() {
            self.serve(first)
            if action.hasSeldomAnswers { for serve in action.moreServes { self.serve(serve) } }
        }
        if action.hasSeldomAnswers { self.executeSeldomAnswers(action) }
        if let id = action.connect { self.startConnect(id) }
        if action.hasSeldomAnswers {
            for id in action.offerHandoff { self.offerHandoff(id) }
        }
        if action.askOthersToYield {
            self.coordinator.budget.markStarved(loop: self.index)
            self.coordinator.askOthersToYield(except: self.index)
        }
        self.publishCapacity()
    }

    /// Failures, closes, pings and long-lease warnings: answers a release seldom gives.
    private func executeSeldomAnswers(_ action: Machine.Action) {
        for (waiter, error) in action.fail {
            waiter.waiterFailed(error)
            self.coordinator.observe(.leaseFailed(loop: self.index, error.code))
            if error.code == .leaseTimeout { self.metrics?.leaseTimedOut() }
            // Per request, so never above trace: an outage would otherwise flood the log.
            self.logger.trace("lease failed", metadata: ["error": "\(error)"])
        }
        for connection in action.close {
            _ = Self.connection(connection).channel.close()
        }
        for (id, connection) in action.ping { self.ping(id, Self.connection(connection)) }
        for (id, heldFor) in action.longLeases {
            self.logger.warning(
                "a lease is held longer than the configured warning threshold: is it ever released?",
                metadata: ["connection": "\(id)", "held_for": "\(heldFor)"])
        }
    }

    /// Pings an idle connection the machine leased for it; its answer, failure or the
    /// keep-alive timeout goes back to the machine (whichever comes first counts).
    private func ping(_ id: ConnectionID, _ connection: Connection) {
        guard let pinged = connection.ping() else {
            self.execute(self.machine.pingEnded(id, now: self.loop.now) { connection.isReusable(isLastLease: $0) })
            return
        }
        let timeout = self.coordinator.configuration.keepAlive?.timeout ?? .seconds(5)
        let timer = self.loop.scheduleTask(in: timeout) { [self] in
            self.logger.debug(
                "closing an idle connection: its keep-alive ping was not answered",
                metadata: ["connection": "\(id)", "timeout": "\(timeout)"])
            self.execute(self.machine.pingFailed(id, now: self.loop.now))
        }
        pinged.whenComplete { [self] result in
            timer.cancel()
            switch result {
            case .success:
                self.execute(self.machine.pingEnded(id, now: self.loop.now) { connection.isReusable(isLastLease: $0) })
            case .failure(let error):
                self.logger.debug(
                    "closing an idle connection: its keep-alive ping failed",
                    metadata: ["connection": "\(id)", "error": "\(error)"])
                self.execute(self.machine.pingFailed(id, now: self.loop.now))
            }
        }
    }

    private func startConnect(_ id: ConnectionID) {
        guard self.coordinator.budget.tryReserve(for: self.index) else {
            self.execute(self.machine.connectRefused(id, .budget))
            return
        }
        let (decision, transition) = self.coordinator.breaker.mayConnect(now: self.loop.now)
        if case .probing(let failures) = transition {
            self.logger.info("probing the server after failed connects", metadata: ["failures": "\(failures)"])
        }
        if case .refuse(let lastError) = decision {
            self.returnBudget()
            self.execute(self.machine.connectRefused(id, .breaker(lastError: lastError)))
            return
        }
        self.connectStarted[id] = self.loop.now
        let connectTimeout = self.coordinator.configuration.connectTimeout
        let timeout = self.loop.scheduleTask(in: connectTimeout) { [self] in
            self.connectResolved(id, .failure(PoolError(.connectFailed, "connect timed out after \(connectTimeout)")))
        }
        self.coordinator.factory(self.loop).whenComplete { [self] result in
            timeout.cancel()
            self.loop.executeOnLoop { self.connectResolved(id, result) }
        }
    }

    /// A connect ended (or timed out: whichever comes first counts; a connection that arrives
    /// after its timeout is closed unused).
    private func connectResolved(_ id: ConnectionID, _ result: Result<Connection, any Error>) {
        let started = self.connectStarted.removeValue(forKey: id)
        guard self.machine.isConnecting(id) else {
            if case .success(let late) = result { _ = late.channel.close() }
            return
        }
        switch result {
        case .success(let connection):
            if case .closed(let failures) = self.coordinator.breaker.connectSucceeded() {
                self.logger.info("the server is reachable again", metadata: ["failed_connects": "\(failures)"])
            }
            if let started { self.metrics?.connected(after: self.loop.now - started) }
            self.logger.debug("connection opened", metadata: ["connection": "\(id)"])
            self.coordinator.observe(.connected(loop: self.index))
            connection.channel.closeFuture.whenComplete { [self] _ in
                self.loop.executeOnLoop { self.connectionClosed(id) }
            }
            self.execute(self.machine.connectSucceeded(id, connection, now: self.loop.now))
        case .failure(let error):
            let transition = self.coordinator.breaker.connectFailed(error, now: self.loop.now)
            if let refused = error as? PoolError, refused.code == .setupRefused {
                // Once per backoff, not per connect: the server is up; our configuration is wrong.
                if transition != nil {
                    self.logger.error(
                        "the server refused the connection's setup: a configuration error, not an outage",
                        metadata: ["error": "\(error)"])
                }
            } else {
                self.logConnectFailure(id, error, transition)
            }
            self.returnBudget()
            self.coordinator.observe(.connectFailed(loop: self.index, error))
            self.execute(self.machine.connectFailed(id, error, now: self.loop.now))
        }
    }

    private func logConnectFailure(
        _ id: ConnectionID, _ error: any Error, _ transition: SharedConnectBreaker.Transition?
    ) {
        switch transition {
        case .opened(let backoff):
            self.logger.warning(
                "connect failed; connects are refused and waiting requests fail fast until a probe succeeds",
                metadata: ["error": "\(error)", "next_probe_in": "\(backoff)"])
        case .probeFailed(let failures, let backoff):
            self.logger.warning(
                "the probe failed; the server is still unreachable",
                metadata: ["error": "\(error)", "failures": "\(failures)", "next_probe_in": "\(backoff)"])
        case .probing, .closed, nil:
            self.logger.debug("connect failed", metadata: ["connection": "\(id)", "error": "\(error)"])
        }
    }

    private func connectionClosed(_ id: ConnectionID) {
        guard let index = self.machine.index(of: id) else { return }
        self.returnBudget()
        // The machine records why when it closes a connection (idle too long, past its
        // lifetime or uses, unusable on release, given to a starved loop, shutdown); any
        // other close came from the server or the network.
        let reason = self.machine.slots[index].closeReason ?? .lost
        self.metrics?.connectionClosed(reason)
        self.logger.debug("connection closed", metadata: ["connection": "\(id)", "reason": "\(reason)"])
        self.coordinator.observe(.closed(loop: self.index))
        self.execute(self.machine.connectionClosed(id, now: self.loop.now))
        self.completeShutdownIfDone()
    }

    private func returnBudget() {
        for loop in self.coordinator.budget.release() {
            guard let pool = self.coordinator.loopPool(at: loop) else { continue }
            pool.loop.execute { pool.budgetFreed() }
        }
    }

    func budgetFreed() {
        self.execute(self.machine.budgetFreed(now: self.loop.now))
    }

    func yieldIdleConnection() {
        self.execute(self.machine.yieldIdleConnection())
    }

    private func offerHandoff(_ id: WaiterID) {
        guard let target = self.coordinator.handoffTarget(from: self.index),
            let deadline = self.readMachine({ $0.waiters[id]?.deadline }), let handed = self.machine.handOff(id)
        else { return }
        handed.waiterHandedOff(to: target)
        target.loop.execute { target.enqueue(handed, handedOff: deadline) }
    }

    private func publishCapacity() {
        guard self.publishes else { return }
        // The pool-wide budget (another object, a counter the loops share) only when no
        // connection here has room: on nearly every release one has.
        let hasRoom = self.readMachine { $0.hasRoomNow }
        if hasRoom != self.publishedRoom {
            self.publishedRoom = hasRoom
            self.room.publish(hasRoom)
        }
        guard self.publishesServeNow else { return }
        let value =
            hasRoom
            || (self.readMachine { $0.couldConnectNow }
                && self.coordinator.budget.openCount < self.coordinator.budget.cap)
        if value != self.publishedCanServeNow {
            self.publishedCanServeNow = value
            self.canServeNow.store(value, ordering: .relaxed)
        }
    }

    // MARK: Timers

    private func armWaiterTimer() {
        let next = self.readMachine { $0.nextWaiterDeadline }
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
    }

    /// Starts the periodic maintenance (idle timeout, lifetime, the minimum).
    func start() {
        self.tick()
        self.scheduleMaintenance()
    }

    private func scheduleMaintenance() {
        let configuration = self.coordinator.configuration
        let interval = max(
            TimeAmount.milliseconds(100),
            min(configuration.idleTimeout, configuration.keepAlive?.interval ?? .seconds(1), .seconds(1)))
        self.maintenanceTimer = self.loop.scheduleTask(in: interval) { [self] in
            guard !self.machine.isShuttingDown else { return }
            self.tick()
            // Gauges once per maintenance tick, not at every waiter's deadline.
            self.metrics?.refresh(self.statistics())
            self.scheduleMaintenance()
        }
    }

    // MARK: Shutdown and statistics

    func shutdown(promise: EventLoopPromise<Void>?) {
        if let promise { self.shutdownPromises.append(promise) }
        guard !self.machine.isShuttingDown else { return self.completeShutdownIfDone() }
        self.maintenanceTimer?.cancel()
        let statistics = self.statistics()
        self.logger.debug(
            "shutting down",
            metadata: [
                "idle": "\(statistics.idle)", "leased": "\(statistics.leased)", "waiting": "\(statistics.waiting)",
            ])
        self.execute(self.machine.shutdown())
        self.completeShutdownIfDone()
    }

    func forceClose() {
        guard !self.machine.isDrained else { return }
        self.logger.warning(
            "the shutdown deadline passed: closing connections still leased",
            metadata: ["leased": "\(self.machine.leasedCount)"])
        self.execute(self.machine.forceClose())
    }

    private func completeShutdownIfDone() {
        guard self.machine.isDrained else { return }
        self.metrics?.refresh(self.statistics())
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
            maxWait: counters.maxWait, closedBy: counters.closedBy)
    }
}

extension LoopPool {
    /// Reads the machine where it is stored: a computed property read off `self.machine` copied
    /// the whole machine first (four retains and three releases, once per queued waiter at
    /// 4,096 callers: `armWaiterTimer`'s `nextWaiterDeadline`, uprobes under `mcpool bench`).
    @inline(__always)
    private func readMachine<T>(_ read: (inout Machine) -> T) -> T {
        read(&self.machine)
    }

    /// Hands a connection to a waiter the machine served.
    @inline(__always)
    private func serve(_ serve: borrowing Machine.Action.Serve) {
        self.metrics?.leaseServed(waited: serve.waited)
        serve.waiter.waiterServed(serve.id, serve.connection, by: self)
    }

    /// A connection the machine handed back: one this loop gave it.
    @inline(__always)
    fileprivate static func connection(_ object: AnyObject) -> Connection {
        // SAFETY: the machine holds only what `connectResolved` gave it, all `Connection`s.
        unsafeDowncast(object, to: Connection.self)
    }
}
