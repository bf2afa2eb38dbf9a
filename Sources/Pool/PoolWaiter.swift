package import Channels
import Synchronization

/// One caller waiting for a connection: what to call when served (or failed), and its
/// cancellation flag.
///
/// Thread-safe as used: `callback` and `target` are written once by the caller before the
/// waiter is handed to its loop (the loop's task queue orders that write before every read),
/// and then only the loop that holds the waiter calls them, once. `cancelled` is atomic
/// because the task's cancellation handler sets it from any thread. `queuedOn` is written by
/// the waiting caller before it adds the waiter as its task's cancellation target, and read
/// only by the cancellation handler (the runtime's status-record lock orders the two).
package final class PoolWaiter<Connection: PoolableConnection>: @unchecked Sendable { // SAFETY: see the type comment
    package typealias Served = (id: ConnectionID, connection: Connection, owner: LoopPool<Connection>)

    package typealias Callback = @Sendable (Result<Served, any Error>) -> Void

    /// Runs on the loop that serves the waiter (its own, or the one it was handed to).
    package var callback: Callback?
    /// Called instead of `callback` when set: an object the caller has anyway (its call
    /// record), so that waiting allocates no closure.
    package var target: (any PoolWaiterTarget<Connection>)?
    let deadline: Deadline
    let cancelled = Atomic<Bool>(false)
    /// Set on the loop that queued it (and read only there).
    var id: WaiterID?
    /// Set on the loop that handed it off, so a late cancellation can follow it.
    var handedTo: LoopPool<Connection>?
    var adopted = false
    /// The pool a waiting task queued it on: where its cancellation goes.
    var queuedOn: LoopPool<Connection>?

    package init(deadline: Deadline) {
        self.deadline = deadline
    }

    /// Hands the waiter its connection (its target, or else its callback, is called once).
    func served(_ id: ConnectionID, _ connection: Connection, by owner: LoopPool<Connection>) {
        // The target moved out and called with the lease's parts borrowed: a `Result` of them
        // retained and released the connection and the pool once more per waiter served.
        // Not `Optional.take()`: this code is not specialized for the connection type, and the
        // generic `take` looked up the existential's and the optional's type metadata in the
        // runtime's caches on every waiter served (2 % of the client's CPU when every get waits).
        if let target = self.target {
            self.target = nil
            target.waiterServed(id, connection, by: owner)
            return
        }
        if let callback = self.callback {
            self.callback = nil
            callback(.success((id, connection, owner)))
        }
    }

    /// Fails the waiter (its target, or else its callback, is called once).
    func resume(throwing error: any Error) {
        if let target = self.target {
            self.target = nil
            target.waiterFailed(error)
            return
        }
        if let callback = self.callback {
            self.callback = nil
            callback(.failure(error))
        }
    }
}

extension PoolWaiter: TaskCancellationTarget {
    /// The waiting task was cancelled: the waiter leaves its queue, on its loop.
    package func taskWasCancelled() {
        self.queuedOn?.cancelFromAnyThread(self)
    }
}

/// A waiter's caller as an object (see `PoolWaiter.target`).
package protocol PoolWaiterTarget<Connection>: AnyObject, Sendable {
    associatedtype Connection: PoolableConnection
    /// Served, on the loop that serves the waiter (`owner`'s: its own, or the one it was
    /// handed to); called once, or `waiterFailed` instead.
    func waiterServed(_ id: ConnectionID, _ connection: Connection, by owner: LoopPool<Connection>)
    /// Failed (timed out, cancelled, the pool shut down), on the loop that held the waiter.
    func waiterFailed(_ error: any Error)
}
