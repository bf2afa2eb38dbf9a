import CLinux

/// An object told, on the cancelling thread, that the task waiting on it was cancelled.
@usableFromInline
package protocol TaskCancellationTarget: AnyObject, Sendable {
    /// Runs at most once per record, on whichever thread cancels the task (at once, on the
    /// task's own thread, when the task was cancelled before the record was added). Must not
    /// cancel the same task or add or remove its records: the runtime holds the task's
    /// status-record lock meanwhile.
    func taskWasCancelled()
}

/// A cancellation record on the current task, added and removed by the caller in one
/// function: `withTaskCancellationHandler` without the closure.
///
/// The standard function runs its operation as a closure of the standard library's type,
/// which is not `nonisolated(nonsending)`: entering it and returning from the wait inside it
/// switched the task to the generic executor (`swift_task_switch`, each reading the task's
/// executor preference under its status-record lock), two of a pooled get's four task
/// switches. With the record added directly, the wait runs in its caller's frame, on its
/// caller's executor.
///
/// ```swift
/// let record = TaskCancellationRecord(notifying: call)   // call: some TaskCancellationTarget
/// defer { record.remove() }
/// return try await withLoopContinuation { continuation in call.arm(continuation) }
/// ```
///
/// Rules, which the runtime does not check: add and remove on the same task, in the same
/// function, the newest record first (a `defer` right after the `let` does all three); keep
/// `target` alive until `remove()` returns (a method of the target adding a record for
/// `self` does).
@usableFromInline
package struct TaskCancellationRecord: ~Copyable {
    private let record: UnsafeMutableRawPointer?

    /// Adds a record that calls `target.taskWasCancelled()` when the current task is
    /// cancelled. Must run in a task (any async function does). When the task is cancelled
    /// already, calls it before returning.
    @usableFromInline
    package init(notifying target: __shared some TaskCancellationTarget) {
        // SAFETY: the pointer is not retained; the caller keeps `target` alive until
        // `remove()`, after which the runtime never calls the handler (handlers run, and
        // records are removed, under the task's status-record lock).
        let context = Unmanaged.passUnretained(target as AnyObject).toOpaque()
        self.record = CLinux_addTaskCancellationRecord(context)
    }

    /// Removes the record: once this returns, the target is not being told and will not be.
    @usableFromInline
    package func remove() {
        CLinux_removeTaskCancellationRecord(self.record)
    }
}

/// The runtime's handler, through the C trampoline in CLinux.h: `target` is the object a
/// `TaskCancellationRecord` was added for, alive while the record is (see there).
@_cdecl("SwiftChannels_taskCancelled")
func taskCancelledTrampoline(_ target: UnsafeMutableRawPointer) {
    // SAFETY: `target` came from `Unmanaged.passUnretained` of a live object (see
    // `TaskCancellationRecord.init`). The cast to the protocol is a conformance lookup, paid
    // only when a task is cancelled.
    let object = Unmanaged<AnyObject>.fromOpaque(target).takeUnretainedValue()
    (object as? any TaskCancellationTarget)?.taskWasCancelled()
}
