/// `withTaskCancellationHandler` without its hop to an isolation of its own: for the
/// per-request waits of this package's clients, where every `swift_task_switch` reads the
/// task's executor preference under its status-record lock.
///
/// The standard function takes an `isolation` argument and switches to it on entry and back
/// on the way out: two of the five task switches a pooled get made (uprobes on
/// `swift_task_switch`, named by the resume function each was passed). This calls the
/// standard library's executor-inheriting entry point instead, which registers the same
/// cancellation record and runs `operation` the same way. `operation` is still a closure of
/// the standard library's type: it runs on the generic executor, which for a task that
/// prefers a loop is that loop.
///
/// `onCancel` runs at once, before `operation`, when the task is already cancelled;
/// otherwise on whichever thread cancels the task, while `operation` runs. Like
/// `withTaskCancellationHandler`, it does not check for cancellation itself.
///
/// ```swift
/// let reply = try await withTaskCancellationHandlerInheritingExecutor {
///     try await withLoopContinuation { continuation in request.start(continuation) }
/// } onCancel: {
///     request.cancel()
/// }
/// ```
@inlinable
package func withTaskCancellationHandlerInheritingExecutor<T>(
    operation: () async throws -> T, onCancel: @Sendable () -> Void
) async rethrows -> T {
    try await _unsafeInheritExecutor_withTaskCancellationHandler(operation: operation, onCancel: onCancel)
}
