/// A single-threaded executor of tasks, timers and I/O readiness.
///
/// Thread-safe: every method may be called from any thread. Work submitted with `execute`
/// runs on the loop's own thread, in submission order. Every channel lives on one loop.
/// An event loop is also a Swift `TaskExecutor`:
///
/// ```swift
/// let loop = group.next()
/// try await withTaskExecutorPreference(loop) {
///     // async code here runs on the loop's thread, with no hop to reach the loop's channels
///     try await channel.writeAndFlush(buffer).get()
/// }
/// ```
public protocol EventLoop: TaskExecutor {
    /// Whether the caller runs on this loop's thread.
    var inEventLoop: Bool { get }

    /// The loop's notion of now: the monotonic clock, or manual time for `EmbeddedEventLoop`.
    var now: Deadline { get }

    /// Runs `task` on the loop, after the tasks already submitted.
    func execute(_ task: @escaping @Sendable () -> Void)

    /// Runs `task` on the loop at `deadline` unless cancelled first.
    @discardableResult
    func scheduleTask<T: Sendable>(deadline: Deadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T>
}

extension EventLoop {
    /// Runs `task` on the loop after `delay`.
    @discardableResult
    public func scheduleTask<T: Sendable>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T)
        -> Scheduled<T>
    {
        self.scheduleTask(deadline: self.now + delay, task)
    }

    /// Runs `task` on the loop and returns its result as a future.
    public func submit<T: Sendable>(_ task: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        let promise = self.makePromise(of: T.self)
        self.execute {
            do { promise.succeed(try task()) } catch { promise.fail(error) }
        }
        return promise.futureResult
    }

    /// A promise whose future belongs to this loop.
    public func makePromise<T: Sendable>(of type: T.Type = T.self) -> EventLoopPromise<T> {
        EventLoopPromise(eventLoop: self)
    }

    public func makeSucceededFuture<T: Sendable>(_ value: T) -> EventLoopFuture<T> {
        EventLoopFuture(eventLoop: self, result: .success(value))
    }

    public func makeFailedFuture<T: Sendable>(_ error: any Error) -> EventLoopFuture<T> {
        EventLoopFuture(eventLoop: self, result: .failure(error))
    }

    /// Runs `task` now when already on the loop, else submits it. Internal: `task` may capture
    /// loop-confined state because it only ever runs on the loop.
    package func executeOnLoop(_ task: @escaping () -> Void) {
        if self.inEventLoop {
            task()
        } else {
            let transfer = LoopBound(task, eventLoop: self)
            self.execute { transfer.value() }
        }
    }
}
