/// Work an object does on a loop, queued as the object itself: a hop to the loop that
/// allocates nothing when the object exists anyway (a caller's call record, say), where a
/// closure would be one more allocation per hop.
///
/// The memcache pool hops each call of a plain task to its connection's loop this way.
package protocol LoopWork: AnyObject, Sendable {
    /// Runs once, on the loop it was queued on.
    func runOnLoop()
}

extension EventLoop {
    /// Queues `work` to run on this loop, from any thread, in order with `execute`'s tasks.
    package func execute(_ work: any LoopWork) {
        if let loop = self as? SelectableEventLoop {
            loop.enqueue(.work(work))
        } else {
            self.execute { work.runOnLoop() }
        }
    }
}
