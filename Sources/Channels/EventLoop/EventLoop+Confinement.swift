/// Checks that loop-confined code runs on its loop.
///
/// A handler, a channel's state or a pool's per-loop state may only be touched on the thread
/// of the loop that owns it; calling in from elsewhere is a data race that may stay silent for
/// a long time. The checks turn it into an immediate, named failure in debug builds and cost
/// nothing in release builds (`assertInEventLoop`), or check always where a wrong thread
/// would corrupt memory (`preconditionInEventLoop`).
///
/// ```swift
/// func send(_ request: Request) {
///     self.eventLoop.assertInEventLoop()   // loop-confined: callers hop first
///     ...
/// }
/// ```
extension EventLoop {
    /// Traps in debug builds when not called on this loop's thread; free in release builds.
    @inlinable
    public func assertInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(self.inEventLoop, "called off its event loop (\(self))", file: file, line: line)
    }

    /// Traps when not called on this loop's thread, in every build.
    @inlinable
    public func preconditionInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(self.inEventLoop, "called off its event loop (\(self))", file: file, line: line)
    }
}
