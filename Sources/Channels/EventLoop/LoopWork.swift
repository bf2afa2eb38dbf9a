/// Work an object does on a loop, queued as the object itself: a hop to the loop that
/// allocates nothing when the object exists anyway (a caller's call record, say), where a
/// closure would be one more allocation per hop.
///
/// The memcache pool hops each call of a plain task to its connection's loop this way.
package protocol LoopWork: AnyObject, Sendable {
    /// Runs once, on the loop it was queued on.
    func runOnLoop()
}

/// One loop's queue for `LoopWork`, for an owner that holds the loop: its type looked up
/// once, and the loop not retained. Casting an `any EventLoop` per hop (or copying a strong
/// reference out of the owner) retained and released the loop each time — per pooled call of
/// a plain task, counted with uprobes under `mcpool bench --plain-tasks`.
package struct LoopWorkQueue: Sendable {
    // SAFETY: unretained; the owner keeps the loop alive as long as this queue (see `init`).
    private let selectable: Unmanaged<SelectableEventLoop>?

    /// For an owner that holds `loop` strongly as long as it holds this queue.
    package init(_ loop: any EventLoop) {
        self.selectable = (loop as? SelectableEventLoop).map { Unmanaged.passUnretained($0) }
    }

    /// The tasks waiting for the loop's next turn, or nil while it sleeps
    /// (`SelectableEventLoop.queuedTasksIfAwake`); a loop of another kind reads as awake with
    /// none waiting.
    package var queuedTasksIfAwake: Int? {
        guard let selectable = self.selectable else { return 0 }
        // SAFETY: the owner holds the loop (see the property).
        return selectable._withUnsafeGuaranteedRef { $0.queuedTasksIfAwake }
    }

    /// Queues `work` to run on the loop, from any thread, in order with `execute`'s tasks;
    /// false, having queued nothing, on a loop of another kind (hop with a closure there).
    package func execute(_ work: any LoopWork) -> Bool {
        guard let selectable = self.selectable else { return false }
        // SAFETY: the owner holds the loop (see the property).
        selectable._withUnsafeGuaranteedRef { $0.enqueue(.work(work)) }
        return true
    }
}
