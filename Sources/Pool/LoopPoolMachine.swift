import Channels
import DequeModule

/// The decisions of one loop's sub-pool: which connection serves a caller, when to connect,
/// close, queue, time out, retire, or offer a waiter to another loop.
///
/// Pure and loop-confined: no I/O, no clock (every event carries `now`), no continuations.
/// It holds the connections themselves (`ConnectionSlot`) and the waiters (`WaiterQueue`,
/// each with the caller's `Waiter` value), so it is the only ledger of both; every event
/// answers with one `LoopPoolAction`, which `LoopPool` executes in one place. Two calls take
/// something out directly instead: `leaseIfReady` (the fast path, a lease for a caller that
/// will not wait: a connection or nil) and `handOff` (the waiter leaves for another loop).
/// What other loops and the pool-wide budget and breaker decide comes in as events too
/// (`connectRefused`, `budgetFreed`, `yieldIdleConnection`). `LoopPool` runs it with erased
/// types (`AnyObject`), so its code is specialized once, in this module.
///
/// The events, by file: here leases, releases, connect outcomes, closes, cancels and
/// shutdown; `+Budget` the pool-wide cap and breaker answers; `+Maintenance` the timer
/// (waiter deadlines, idle and lifetime closes, the minimum); `+Handoff` moving waiters
/// between loops.
struct LoopPoolMachine<Connection: AnyObject, Waiter> {
    typealias Action = LoopPoolAction<Connection, Waiter>

    struct Limits {
        /// Open and opening connections of this loop at most.
        var maxConnections: Int
        var maxLeasesPerConnection: Int
        var maxConnecting: Int
        var maxWaiters: Int
        /// Connections kept open (pre-warmed, replaced when they die), leased or idle.
        var minConnections: Int
        var idleTimeout: TimeAmount
        var maxLifetime: TimeAmount?
        /// For `.preferred` affinity: waiters are offered to other loops after this long.
        var handoffAfter: TimeAmount?
        /// Keep when each lease began, so a release answers how long it was held (`used`).
        var measuresUseTime = false
        /// Each connection's lifetime is `maxLifetime` shortened at random by up to this
        /// fraction (0...1), so connections opened together do not all close together.
        var lifetimeJitter = 0.0
        /// A connection retires after serving this many leases; nil: no limit.
        var maxUses: Int? = nil
        /// Report a lease held longer than this (`tick`'s `longLeases`); needs `measuresUseTime`.
        var longLease: TimeAmount? = nil
        /// Ping a connection idle this long (`tick`'s `ping`); nil: no keep-alive.
        var keepAliveInterval: TimeAmount? = nil
        /// Publish whether a connection here has room (`LoopPool.room`), for callers off the
        /// loops choosing one: on whenever the pool has more than one loop.
        var publishesRoom = false
    }

    struct Counters: Equatable {
        var created = 0
        var closed = 0
        var connectFailures = 0
        var leases = 0
        var waitedLeases = 0
        var totalWait = TimeAmount.zero
        var maxWait = TimeAmount.zero
        /// Closed connections by why they closed.
        var closedBy: [PoolCloseReason: Int] = [:]
    }

    let limits: Limits
    private(set) var slots: [ConnectionSlot<Connection>] = []
    private(set) var waiters = WaiterQueue<Waiter>()
    private(set) var counters = Counters()
    private(set) var isShuttingDown = false
    /// Waiters are queued and the loop is below its cap, but the pool-wide budget said no.
    var isStarved = false
    /// The last reason a connect did not give a connection (a failure, or the breaker's).
    var lastConnectError: (any Error)?
    var nextHandoffCheck = Deadline.distantPast
    private var nextConnection: UInt64 = 0
    private var nextWaiter: UInt64 = 0

    init(limits: Limits) {
        self.limits = limits
    }

    // MARK: Leasing (the hot path)

    /// A ready connection for a caller that will not wait: leased at once, or nil (nothing
    /// changes; the caller then takes the queueing path).
    /// `now` is needed only when the machine measures use time.
    ///
    /// The connection comes unretained (a retain and a release fewer per lease).
    // SAFETY: its slot holds it — still when this lease retires it (`maxUses`) — so the caller
    // uses it before the machine changes again.
    mutating func leaseIfReady(now: Deadline? = nil) -> (id: ConnectionID, connection: Unmanaged<Connection>)? {
        guard !self.isShuttingDown, self.waiters.isEmpty, let index = self.bestReadySlot(),
            let connection = self.slots[index].readyConnection
        else { return nil }
        self.slots[index].leases += 1
        if self.limits.measuresUseTime, let now { self.slots[index].leaseStarts.append(now) }
        self.counters.leases += 1
        self.countUse(at: index)
        return (self.slots[index].id, connection)
    }

    /// A caller asks for a connection: served now, or queued (the action's `queued` names
    /// it, for `cancel`), or failed (shutting down, or the queue is full).
    mutating func lease(_ waiter: Waiter, now: Deadline, deadline: Deadline, adopted: Bool = false) -> (
        queued: WaiterID?, action: Action
    ) {
        guard !self.isShuttingDown else {
            return (nil, Action(fail: waiter, PoolError(.shutdown, "the pool is shut down")))
        }
        if self.waiters.isEmpty, let index = self.bestReadySlot(), case .ready(let connection) = self.slots[index].state
        {
            self.slots[index].leases += 1
            if self.limits.measuresUseTime { self.slots[index].leaseStarts.append(now) }
            self.counters.leases += 1
            self.countUse(at: index)
            return (
                nil, Action(serve: .init(waiter: waiter, id: self.slots[index].id, connection: connection, waited: nil))
            )
        }
        guard self.waiters.count < self.limits.maxWaiters else {
            return (
                nil,
                Action(
                    fail: waiter, PoolError(.tooManyWaiters, "the loop already has \(self.limits.maxWaiters) waiters"))
            )
        }
        self.nextWaiter &+= 1
        let id = WaiterID(value: self.nextWaiter)
        self.waiters.append(id, .init(waiter: waiter, enqueued: now, deadline: deadline, adopted: adopted))
        return (id, Action(connect: self.connectIfRoom(now: now)))
    }

    /// A caller gives its lease back. `isReusable` is asked (with whether it was the last
    /// lease) only while the connection could serve again.
    mutating func release(_ id: ConnectionID, now: Deadline, isReusable: (_ isLastLease: Bool) -> Bool) -> Action {
        // A release for a connection already gone (it died while leased) changes nothing.
        guard let index = self.index(of: id), self.slots[index].leases > 0 else { return Action() }
        self.slots[index].leases -= 1
        // Leases of a shared connection are paired with their starts first in, first out:
        // exact for in-order protocols (memcache), an approximation for others.
        let used = self.limits.measuresUseTime ? self.slots[index].leaseStarts.popFirst().map { now - $0 } : nil
        var action = self.afterRelease(index, now: now, isReusable: isReusable)
        action.used = used
        return action
    }

    private mutating func afterRelease(_ index: Int, now: Deadline, isReusable: (_ isLastLease: Bool) -> Bool) -> Action
    {
        let remaining = self.slots[index].leases
        switch self.slots[index].state {
        case .connecting, .closing:
            return Action()
        case .retiring:
            guard remaining == 0 else { return Action() }
            let reason = self.slots[index].closeReason ?? .lifetime
            return Action(close: self.slots[index].close(reason), connect: self.connectIfRoom(now: now))
        case .ready:
            // Shutting down, a shared connection closes with its last lease: the requests of
            // the other leases are still in flight on it.
            if self.isShuttingDown {
                guard remaining == 0 else { return Action() }
                return Action(close: self.slots[index].close(.shutdown))
            }
            guard isReusable(remaining == 0) else {
                return Action(close: self.slots[index].close(.unusable), connect: self.connectIfRoom(now: now))
            }
            // The connection is taken out of its slot only here: bound above, it was retained
            // and released for every release, most of which serve no waiter.
            if !self.waiters.isEmpty, case .ready(let connection) = self.slots[index].state,
                let next = self.waiters.popFirst()
            {
                self.slots[index].leases += 1
                if self.limits.measuresUseTime { self.slots[index].leaseStarts.append(now) }
                let waited = self.recordLease(waitedSince: next.entry.enqueued, now: now)
                self.countUse(at: index)
                return Action(
                    serve: .init(
                        waiter: next.entry.waiter, id: self.slots[index].id, connection: connection, waited: waited))
            }
            if remaining == 0 { self.slots[index].idleSince = now }
            return Action()
        }
    }

    /// The caller's task was cancelled while it waited: it leaves the queue with `.cancelled`.
    mutating func cancel(_ id: WaiterID) -> Action {
        guard let entry = self.waiters.remove(id) else { return Action() }
        return Action(
            fail: entry.waiter, PoolError(.cancelled, "the task was cancelled while waiting for a connection"))
    }

    // MARK: Connections coming and going

    /// The connect of slot `id` gave a connection: it serves the oldest waiters it can.
    mutating func connectSucceeded(_ id: ConnectionID, _ connection: Connection, now: Deadline) -> Action {
        // Unknown: it timed out (and was written off) before it connected. Close it unused.
        guard let index = self.index(of: id), self.slots[index].isConnecting else { return Action(close: connection) }
        self.counters.created += 1
        if self.isShuttingDown {
            self.slots[index].state = .closing(connection)
            self.slots[index].closeReason = .shutdown
            return Action(close: connection)
        }
        self.slots[index].state = .ready(connection)
        self.slots[index].idleSince = now
        self.slots[index].lifetime = self.limits.maxLifetime.map(self.jittered)
        var action = Action()
        // A connection that reaches its maximum uses retires at once and serves no more.
        while self.slots[index].isReady, self.slots[index].leases < self.limits.maxLeasesPerConnection,
            let next = self.waiters.popFirst()
        {
            self.slots[index].leases += 1
            if self.limits.measuresUseTime { self.slots[index].leaseStarts.append(now) }
            let waited = self.recordLease(waitedSince: next.entry.enqueued, now: now)
            self.countUse(at: index)
            action.addServe(.init(waiter: next.entry.waiter, id: id, connection: connection, waited: waited))
        }
        action.connect = self.connectIfRoom(now: now)
        return action
    }

    /// The connect of slot `id` failed (or timed out). Waiters fail with `.connectFailed`
    /// only when nothing else could serve them.
    mutating func connectFailed(_ id: ConnectionID, _ error: any Error, now: Deadline) -> Action {
        guard let index = self.index(of: id), self.slots[index].isConnecting else { return Action() }
        self.slots.remove(at: index)
        self.counters.connectFailures += 1
        self.lastConnectError = error
        return self.failWaitersIfStranded()
    }

    /// An open connection is gone (closed by us or by the peer). A replacement connects when
    /// waiters or the minimum want one.
    mutating func connectionClosed(_ id: ConnectionID, now: Deadline) -> Action {
        guard let index = self.index(of: id) else { return Action() }
        if !self.slots[index].isConnecting {
            self.counters.closed += 1
            self.counters.closedBy[self.slots[index].closeReason ?? .lost, default: 0] += 1
        }
        self.slots.remove(at: index)
        return Action(connect: self.connectIfRoom(now: now))
    }

    // MARK: Shutdown

    /// Stop leasing: fail the waiters, close the idle connections; leased ones close when
    /// released.
    mutating func shutdown() -> Action {
        self.isShuttingDown = true
        var action = Action()
        action.fail = self.waiters.removeAll().map { ($0.entry.waiter, PoolError(.shutdown, "the pool is shut down")) }
        for index in self.slots.indices where self.slots[index].isIdle || self.slots[index].pinging {
            // A ping is no caller's: its connection closes now, as an idle one does (and its
            // answer, or its silence, changes nothing afterwards).
            if self.slots[index].pinging { self.abandonPing(slotAt: index) }
            if let connection = self.slots[index].close(.shutdown) { action.close.append(connection) }
        }
        return action
    }

    /// After the shutdown deadline: close what is still leased too.
    mutating func forceClose() -> Action {
        var action = Action()
        for index in self.slots.indices {
            if let connection = self.slots[index].close(.shutdown) { action.close.append(connection) }
        }
        return action
    }

    /// Shut down, with nothing left open or opening.
    var isDrained: Bool { self.isShuttingDown && self.slots.isEmpty }

    // MARK: Queries

    var idleCount: Int { self.slots.reduce(0) { $0 + ($1.isIdle ? 1 : 0) } }
    var leasedCount: Int { self.slots.reduce(0) { $0 + (!$1.isConnecting && $1.leases > 0 ? 1 : 0) } }
    var connectingCount: Int { self.slots.reduce(0) { $0 + ($1.isConnecting ? 1 : 0) } }
    var activeLeases: Int { self.slots.reduce(0) { $0 + $1.leases } }
    /// Connecting, ready or retiring.
    var liveCount: Int { self.slots.reduce(0) { $0 + ($1.isLive ? 1 : 0) } }

    /// Whether slot `id` is still waiting for its connect (and so its outcome is wanted).
    func isConnecting(_ id: ConnectionID) -> Bool {
        self.index(of: id).map { self.slots[$0].isConnecting } ?? false
    }

    func index(of id: ConnectionID) -> Int? {
        self.slots.firstIndex { $0.id == id }
    }

    /// A ready connection with room for one more lease, the busiest first ("pack").
    ///
    /// Shared connections are filled before the next one is used, and a loop connects more
    /// only when every connection is full: the requests of one loop turn then leave in a few
    /// large writes instead of one small write per connection. Measured with `mcpool bench`
    /// against memcached (64 callers, 2 loops × 4 connections of 16): 340–375 k gets/s at
    /// 3.7–4.0 µs of client CPU each when spreading over the least loaded, 420–457 k at
    /// 3.1–3.3 µs when packing — the kernel's cost per `send` dominates. With exclusive
    /// leases both policies are the same.
    ///
    /// A connection being pinged is skipped: a request behind the ping would wait for it, and
    /// for as long as the keep-alive timeout if the connection is dead (the ping's reason).
    /// A server that does not answer the ping at all would even hand the request's reply to
    /// the ping.
    func bestReadySlot() -> Int? {
        var best: Int? = nil
        var bestLeases = -1
        for index in self.slots.indices where self.slots[index].isReady && !self.slots[index].pinging {
            let leases = self.slots[index].leases
            if leases < self.limits.maxLeasesPerConnection, leases > bestLeases {
                best = index
                bestLeases = leases
            }
        }
        return best
    }

    // MARK: Shared steps

    /// Asks for a connect when more capacity is wanted than the connects in flight will
    /// bring (by the waiters, or to keep the minimum), the loop is below its caps, and the
    /// pool is not shutting down.
    mutating func connectIfRoom(now: Deadline) -> ConnectionID? {
        guard !self.isShuttingDown, self.slots.count < self.limits.maxConnections else { return nil }
        let connecting = self.connectingCount
        guard connecting < self.limits.maxConnecting else { return nil }
        let byWaiters = self.waiters.count > connecting * self.limits.maxLeasesPerConnection
        let byMinimum = self.liveCount < self.limits.minConnections
        guard byWaiters || byMinimum else { return nil }
        self.nextConnection &+= 1
        let id = ConnectionID(value: self.nextConnection)
        self.slots.append(ConnectionSlot(id: id, created: now))
        return id
    }

    /// When no connection could serve the waiters (none ready, none connecting), they fail
    /// with `.connectFailed` and the last connect error, rather than wait out their deadline.
    mutating func failWaitersIfStranded() -> Action {
        guard !self.slots.contains(where: { $0.isReady || $0.isConnecting }) else { return Action() }
        var action = Action()
        let error =
            if let refused = self.lastConnectError as? PoolError, refused.code == .setupRefused {
                refused
            } else {
                PoolError(.connectFailed, "cannot connect", cause: self.lastConnectError)
            }
        action.fail = self.waiters.removeAll().map { ($0.entry.waiter, error) }
        return action
    }

    mutating func recordLease(waitedSince enqueued: Deadline, now: Deadline) -> TimeAmount {
        let waited = now - enqueued
        self.counters.leases += 1
        self.counters.waitedLeases += 1
        self.counters.totalWait = self.counters.totalWait + waited
        self.counters.maxWait = max(self.counters.maxWait, waited)
        return waited
    }

    mutating func removeSlot(at index: Int) {
        self.slots.remove(at: index)
    }

    mutating func close(slotAt index: Int, _ reason: PoolCloseReason) -> Connection? {
        self.slots[index].close(reason)
    }

    /// Counts a lease of slot `index` toward `maxUses`; at the limit it retires.
    @inline(__always)
    private mutating func countUse(at index: Int) {
        guard let maxUses = self.limits.maxUses else { return }
        self.slots[index].uses += 1
        if self.slots[index].uses >= maxUses { self.slots[index].retire(.maxUses) }
    }

    /// Leases slot `index` for a keep-alive ping (see `+KeepAlive`).
    mutating func startPing(slotAt index: Int) {
        self.slots[index].leases += 1
        self.slots[index].pinging = true
    }

    /// The ping of slot `index` ended at `now`: its lease is given back as a caller's would be,
    /// except that a connection idle before the ping stays idle since then.
    mutating func endPing(slotAt index: Int, now: Deadline, isReusable: (_ isLastLease: Bool) -> Bool) -> Action {
        self.slots[index].pinging = false
        self.slots[index].lastPinged = now
        let idleSince = self.slots[index].idleSince
        self.slots[index].leases -= 1
        let action = self.afterRelease(index, now: now, isReusable: isReusable)
        if self.slots[index].isIdle { self.slots[index].idleSince = idleSince }
        return action
    }

    /// The ping of slot `index` failed: its lease ends with no release (the slot closes next).
    mutating func abandonPing(slotAt index: Int) {
        self.slots[index].pinging = false
        self.slots[index].leases -= 1
    }

    mutating func markLongLeaseReported(slotAt index: Int, start: Deadline) {
        self.slots[index].reportedLongLease = start
    }

    /// Retires slot `index` (no new lease; it closes for `reason` when its last one ends).
    mutating func retire(slotAt index: Int, _ reason: PoolCloseReason) {
        self.slots[index].retire(reason)
    }

    /// `lifetime` shortened at random by up to `lifetimeJitter` of it (once per connect: the
    /// system generator's cost does not matter here).
    private func jittered(_ lifetime: TimeAmount) -> TimeAmount {
        let jitter = min(max(self.limits.lifetimeJitter, 0), 1)
        guard jitter > 0, lifetime.nanoseconds > 0 else { return lifetime }
        // At most the lifetime itself: a lifetime of `.nanoseconds(.max)` times a jitter of 1
        // is 2^63 as a Double, which no Int64 holds.
        let span = Int64(exactly: (Double(lifetime.nanoseconds) * jitter).rounded(.down)) ?? lifetime.nanoseconds
        guard span > 0 else { return lifetime }
        return .nanoseconds(lifetime.nanoseconds - Int64.random(in: 0...span))
    }

    mutating func removeWaiter(_ id: WaiterID) -> WaiterQueue<Waiter>.Entry? {
        self.waiters.remove(id)
    }

    mutating func removeExpiredWaiters(now: Deadline) -> [(id: WaiterID, entry: WaiterQueue<Waiter>.Entry)] {
        self.waiters.removeExpired(now: now)
    }

    mutating func markOffered(_ id: WaiterID, now: Deadline) {
        self.waiters.markOffered(id, at: now)
    }
}
