/// A value that may be carried across threads but is used only on one loop.
///
/// Thread-safe to move; `value` may be read only on `eventLoop` (checked in debug builds).
/// Handlers, closures over a channel's state and a pool's per-loop state are not `Sendable`;
/// this is how such a value travels to the loop that owns it — into `loop.execute`, a timer,
/// or a task — without an unchecked promise at every place that does so.
///
/// ```swift
/// let bound = LoopBound(handler, eventLoop: channel.eventLoop)
/// channel.eventLoop.execute { bound.value.flushPending() }
/// ```
// SAFETY: `value` is read only on `eventLoop`, checked in debug builds
public struct LoopBound<Value>: @unchecked Sendable { // SAFETY: see above
    /// The loop on which `value` may be used.
    public let eventLoop: any EventLoop
    @usableFromInline let wrapped: Value

    /// Binds `value` to `eventLoop`. Creating one is allowed anywhere: the value is not read.
    @inlinable
    public init(_ value: Value, eventLoop: any EventLoop) {
        self.wrapped = value
        self.eventLoop = eventLoop
    }

    /// The value; only on `eventLoop`'s thread.
    @inlinable
    public var value: Value {
        self.eventLoop.assertInEventLoop()
        return self.wrapped
    }
}
