public import Channels
import Synchronization

/// A caller waiting for a connection, as a loop pool queues it: a `PoolWaiter` (a closure to
/// call), or an object the caller has anyway — `MemcachePool`'s call record — so that a
/// caller that waits allocates nothing more (the record and a `PoolWaiter` beside it were two
/// allocations per waiting get; a `malloc` uprobe at 4,096 callers: 2.00 per get).
///
/// Not generic: the loop pool's machine holds its waiters as `any PoolWaiting`, one
/// instantiation specialized in this module whatever the connection type (see
/// `LoopPool.Machine`), and a call through the existential looks up no type metadata. The
/// connection and the pool come as `AnyObject`: a waiter queued on a `LoopPool<Connection>`
/// is only ever served by loop pools of the same pool, so it downcasts them unchecked.
///
/// Every requirement is called on the loop that holds the waiter, once it is queued there.
package protocol PoolWaiting: AnyObject, Sendable {
    /// When waiting fails with `PoolError.Code.leaseTimeout`; nil: the pool's `leaseTimeout`
    /// after the loop first queues it (the loop reads the clock for the queue anyway: a caller
    /// that is served at once never needs one).
    var waitDeadline: Deadline? { get }
    /// The caller gave up before its waiter reached the loop: failed instead of queued.
    var waiterCancelled: Bool { get }
    /// Queued on this loop as `id` (nil: served or failed at once).
    func waiterQueued(as id: WaiterID?)
    /// Moved to `pool`'s loop (a `LoopPool` of the same pool), where it is queued again.
    func waiterHandedOff(to pool: AnyObject)
    /// Served: `connection` (a `Connection`) is leased to the caller from `owner` (a
    /// `LoopPool<Connection>`, the one to release it to); called once, or `waiterFailed`.
    func waiterServed(_ id: ConnectionID, _ connection: AnyObject, by owner: AnyObject)
    /// Failed (timed out, cancelled, the pool shut down, too many waiters).
    func waiterFailed(_ error: any Error)
}

/// One caller waiting for a connection: the closure to call when served (or failed), and its
/// cancellation flag.
///
/// Thread-safe as used: `callback` is written once by the caller before the waiter is handed
/// to its loop (the loop's task queue orders that write before every read), and then only
/// the loop that holds the waiter calls it, once. `cancelled` is atomic because the task's
/// cancellation handler sets it from any thread. `queuedOn` is written by the waiting caller
/// before it adds the waiter as its task's cancellation target, and read only by the
/// cancellation handler (the runtime's status-record lock orders the two). `id` and
/// `handedTo` are written and read on the loop that holds the waiter.
@usableFromInline
package final class PoolWaiter<Connection: PoolableConnection>: PoolWaiting,
    @unchecked Sendable // SAFETY: see the type comment (ordered writes, an atomic, loop-confined)
{
    @usableFromInline package typealias Served = (id: ConnectionID, connection: Connection, owner: LoopPool<Connection>)

    package typealias Callback = @Sendable (Result<Served, any Error>) -> Void

    /// Runs on the loop that serves the waiter (its own, or the one it was handed to).
    package var callback: Callback?
    let deadline: Deadline
    let cancelled = Atomic<Bool>(false)
    /// Set on the loop that queued it (and read only there).
    var id: WaiterID?
    /// Set on the loop that handed it off, so a late cancellation can follow it.
    var handedTo: LoopPool<Connection>?
    /// The pool a waiting task queued it on: where its cancellation goes.
    var queuedOn: LoopPool<Connection>?

    package init(deadline: Deadline) {
        self.deadline = deadline
    }

    package var waitDeadline: Deadline? { self.deadline }

    package var waiterCancelled: Bool { self.cancelled.load(ordering: .acquiring) }

    package func waiterQueued(as id: WaiterID?) {
        self.id = id
    }

    package func waiterHandedOff(to pool: AnyObject) {
        // SAFETY: only a loop pool of this waiter's pool hands it on (see `PoolWaiting`).
        self.handedTo = unsafeDowncast(pool, to: LoopPool<Connection>.self)
    }

    package func waiterServed(_ id: ConnectionID, _ connection: AnyObject, by owner: AnyObject) {
        guard let callback = self.callback else { return }
        self.callback = nil
        // SAFETY: as above, and the machine of a `LoopPool<Connection>` holds `Connection`s.
        let served = unsafeDowncast(connection, to: Connection.self)
        callback(.success((id, served, unsafeDowncast(owner, to: LoopPool<Connection>.self))))
    }

    package func waiterFailed(_ error: any Error) {
        guard let callback = self.callback else { return }
        self.callback = nil
        callback(.failure(error))
    }
}

extension PoolWaiter: TaskCancellationTarget {
    /// The waiting task was cancelled: the waiter leaves its queue, on its loop.
    @usableFromInline package func taskWasCancelled() {
        self.queuedOn?.cancelFromAnyThread(self)
    }
}
