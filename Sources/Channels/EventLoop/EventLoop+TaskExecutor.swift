// An event loop runs Swift concurrency jobs like any other task, so that
// `withTaskExecutorPreference(loop)` keeps async code on the loop's thread.
//
// Only a TaskExecutor, deliberately not a SerialExecutor: a job run "isolated to" the loop
// as a serial executor makes every call into a nonisolated async function switch to the
// generic executor, i.e. re-enqueue itself on the loop (a hop per `await`). Run as a task
// executor, such calls continue inline on the loop's thread.
extension SelectableEventLoop {
    public func enqueue(_ job: consuming ExecutorJob) {
        self.enqueue(.job(UnownedJob(job)))
    }
}
