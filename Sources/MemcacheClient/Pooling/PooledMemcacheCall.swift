import Channels
import Codecs
import Pool

/// A pooled call's record that is also its own hop to the loop (`LoopWork`) and, when every
/// connection is busy, its own waiter (`PoolWaiting`): one allocation per call, where a
/// closure for the hop and a waiter with a closure made three for a caller that waited (a
/// `malloc` uprobe at 4,096 callers: 3.16 per get; 2.00 with the record as a `PoolWaiter`'s
/// target).
///
/// Generic over what it sends, so that a get's record holds its key and nothing else: with
/// the payload an enum, every call was as large as a whole request (about 150 bytes, where
/// a get's needs about 70; one more cold cache line per waiting get at 4,096 callers), and
/// destroying it cost a retain and a release of the call besides.
// SAFETY: its own fields are immutable; the call's state is `MemcacheCall`'s (atomic).
// `package`: declared `internal`, the 6.3 compiler rejected it ("function call causes an infinite
// recursion", at the class, in no member of it).
package final class PooledMemcacheCall<Payload: PooledCallPayload>: MemcacheCall, LoopWork, PoolWaiting,
    @unchecked Sendable // SAFETY: above
{
    let payload: Payload
    let pool: LoopPool<MemcachePooledConnection>
    /// The lease's deadline; nil: the pool's lease timeout, counted from when the loop queues
    /// the call (`PoolWaiting.waitDeadline`: no clock read for a call served at once).
    let deadline: Deadline?
    /// Whether `deadline` is the caller's own (`MemcacheDeadline`) rather than the pool's
    /// lease timeout: a lease that times out then fails with the deadline's error.
    let leaseTimeoutIsCallers: Bool

    init(
        _ payload: Payload, pool: LoopPool<MemcachePooledConnection>, deadline: Deadline? = nil,
        leaseTimeoutIsCallers: Bool = false
    ) {
        self.payload = payload
        self.pool = pool
        self.deadline = deadline
        self.leaseTimeoutIsCallers = leaseTimeoutIsCallers
    }

    /// Hands the call to its pool's loop and waits for the reply. A caller on that loop has
    /// just found no connection ready there (`MemcachePool.leaseOnItsLoopIfReady`): its call
    /// goes straight to the loop pool's queue, which still serves it at once if it can —
    /// not through a second look for a ready connection (one per get at 4,096 callers,
    /// where every get waits). One `wait` for both (two inlined waits made its frame 384
    /// bytes, one 320).
    func hopAndWait(isOnItsLoop: Bool) async throws -> MemcacheResponse {
        try await self.wait { _ in isOnItsLoop ? self.queue() : self.hop() }
    }

    /// Queues the call on its pool's loop, from any thread.
    func hop() {
        guard !self.pool.workQueue.execute(self) else { return }
        self.pool.loop.execute { self.runOnLoop() }
    }

    /// On the pool's loop: sends on a free connection, or queues a waiter that sends once it
    /// is served.
    package func runOnLoop() {
        // The lease unretained, as on the caller-on-its-loop path (two retains and releases
        // fewer).
        // SAFETY: the pool holds the connection while the lease lasts, at least until this
        // send, on this loop.
        if let served = self.pool.leaseConnectionIfReady() {
            served.connection._withUnsafeGuaranteedRef { self.send(on: $0, served.id, of: self.pool) }
            return
        }
        self.queue()
    }

    /// On the pool's loop: queues the call as a waiter that sends once it is served (at once,
    /// if it can be).
    private func queue() {
        self.pool.enqueue(self)
    }

    // MARK: Waiting for a connection (`PoolWaiting`)

    package var waitDeadline: Deadline? { self.deadline }

    /// A call cancelled meanwhile is queued anyway: when served, it gives its lease straight
    /// back unsent (`MemcachePool.takeLease`), and its caller has been answered already.
    package var waiterCancelled: Bool { false }

    /// Its place in the queue is not kept: the call is never taken out of it by id (see
    /// `waiterCancelled`).
    package func waiterQueued(as id: WaiterID?) {}

    package func waiterHandedOff(to pool: AnyObject) {}

    package func waiterServed(_ id: ConnectionID, _ connection: AnyObject, by owner: AnyObject) {
        // Its owner: a waiter may be served by another loop's pool (a handoff).
        // SAFETY: the call is only ever queued on `self.pool`, a loop pool of a `MemcachePool`,
        // and handed only between that pool's loop pools (`PoolWaiting`).
        self.send(
            on: unsafeDowncast(connection, to: MemcachePooledConnection.self), id,
            of: unsafeDowncast(owner, to: LoopPool<MemcachePooledConnection>.self))
    }

    package func waiterFailed(_ error: any Error) {
        self.finish(.failure(MemcachePool.leaseFailure(error, leaseTimeoutIsCallers: self.leaseTimeoutIsCallers)))
    }

    private func send(
        on connection: MemcachePooledConnection, _ id: ConnectionID, of owner: LoopPool<MemcachePooledConnection>
    ) {
        self.payload.send(for: self, on: connection, id, of: owner)
    }
}

/// What a pooled call sends, written when a connection is leased for it.
package protocol PooledCallPayload: Sendable {
    /// Sends for `call` on `connection`, on `owner`'s loop.
    func send(
        for call: MemcacheCall, on connection: MemcachePooledConnection, _ id: ConnectionID,
        of owner: LoopPool<MemcachePooledConnection>)
}

/// `get`'s `mg <key> v`, written from the key when it is sent (no request made: the key is
/// the one reference the call holds for it).
package struct ValueGetPayload: PooledCallPayload {
    let key: MemcacheKey

    package func send(
        for call: MemcacheCall, on connection: MemcachePooledConnection, _ id: ConnectionID,
        of owner: LoopPool<MemcachePooledConnection>
    ) {
        MemcachePool.sendValueGet(self.key, responder: .call(call), on: connection, id, of: owner)
    }
}

/// Any request, and who hears its partial replies (a multi-get's values as they come).
package struct RequestPayload: PooledCallPayload {
    let request: MemcacheRequest
    let onPartial: (@Sendable (MemcacheResponse) -> Void)?

    package func send(
        for call: MemcacheCall, on connection: MemcachePooledConnection, _ id: ConnectionID,
        of owner: LoopPool<MemcachePooledConnection>
    ) {
        MemcachePool.send(
            self.request, onPartial: self.onPartial, responder: .call(call), on: connection, id, of: owner)
    }
}
