// An event loop runs Swift concurrency jobs like any other task, so that
// `withTaskExecutorPreference(loop)` keeps async code on the loop's thread.
extension SelectableEventLoop: SerialExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        self.enqueue(.job(UnownedJob(job)))
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func checkIsolated() {
        precondition(self.inEventLoop, "not on this event loop")  // SAFETY: a misuse check of the caller's code
    }
}
