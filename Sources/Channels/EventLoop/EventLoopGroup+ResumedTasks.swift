extension EventLoopGroup {
    /// Opt-in, for the whole process: a task with no executor preference that an event loop
    /// resumes while delivering a channel's reads continues on that loop, instead of being
    /// queued to the global executor's threads.
    ///
    /// Why: a plain task — a Hummingbird or Vapor request handler, a `Task { }` — that awaits a
    /// reply from a connection on a loop is resumed by that loop, and by default hops to a
    /// cooperative thread to go on: a thread hand-off and often a wake-up per reply. With
    /// this on, it goes on right there, in the same loop turn, like a task that prefers the
    /// loop (`withTaskExecutorPreference`). Its next request then starts on the loop too (a
    /// `ConnectionPool` or `MemcachePool` call takes the on-loop path: no hop at all). For a
    /// `MemcachePool` used from plain tasks this about halves the client's CPU per get
    /// (docs/performance.md).
    ///
    /// Only jobs queued *during a channel's reads* stay (the task a reply resumed, or a task
    /// a handler starts in `channelRead`); a task resumed by a timer, by another thread or
    /// after the reads goes to the global executor as before. A task that runs on a loop
    /// this way stays on it until it next suspends.
    ///
    /// - Important: while such a task runs, the loop runs nothing else. It must not block
    ///   (no blocking system calls, no locks held for long, no waiting on a semaphore or a
    ///   thread), and long computations delay every connection of the loop. Work that must
    ///   stay off the loops should run in a task that prefers a `TaskExecutor` of its own
    ///   (not `globalConcurrentExecutor`, whose jobs reach the same hook).
    ///
    /// The hook is the runtime's `swift_task_enqueueGlobal_hook`, which the process has one
    /// of: this call does nothing and returns false when another library set it first.
    ///
    /// ```swift
    /// // At start-up, before any pool is used:
    /// EventLoopGroup.keepResumedTasksOnLoops()
    /// let group = try EventLoopGroup(loopCount: 2)
    /// let pool = MemcachePool(configuration: .init(host: "127.0.0.1"), group: group)
    /// ```
    ///
    /// - Returns: true when resumed tasks are kept on loops from now on (also when an
    ///   earlier call turned it on), false when another hook is in place.
    @discardableResult
    public static func keepResumedTasksOnLoops() -> Bool {
        GlobalEnqueueHook.install()
    }

    /// Whether `keepResumedTasksOnLoops()` is in force: then the loop a plain task's first
    /// call goes to becomes the task's home, and a pool spreads such calls round robin.
    package static var keepsResumedTasksOnLoops: Bool { GlobalEnqueueHook.isInstalled }
}
