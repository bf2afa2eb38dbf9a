import Channels
import Codecs
import Synchronization

/// One caller waiting for a memcache reply: resumed exactly once, from any thread — by the
/// connection's loop with the reply, or at once by the caller's task being cancelled (the
/// reply, when it comes, is then read and dropped, and the shared connection lives on).
///
/// Thread-safe. States, each moved by one atomic operation:
/// ```
///   created ──arm (the caller, continuation stored)──▶ armed ──finish (loop or cancel)──▶ finished
///      └──────────finish (cancelled before arming)───────────────────────────────────────▶ finished
/// ```
/// Whoever moves `armed → finished` resumes the continuation; a caller that finds the call
/// finished while arming it was cancelled first and resumes itself with `CancellationError`.
///
/// Open for one subclass: a pooled call that is also its own hop to the loop
/// (`MemcachePool`'s plain-task path); every member here is final.
package class MemcacheCall: TaskCancellationTarget, @unchecked Sendable { // SAFETY: see below
    // SAFETY: `continuation` is written once, by the caller, before the release-ordered
    // `created → armed` exchange, and read only by whoever wins the acquire-ordered
    // `armed → finished` exchange; no other access exists.
    private var continuation: LoopContinuation<MemcacheResponse>?
    /// The waiting task's address, only ever prefetched (`prefetchForResume`): written with
    /// `continuation`, before the call is armed, and never again — unlike `continuation`, which
    /// the finisher clears, it may be read by the loop while another thread finishes the call.
    private var taskAddress: UnsafeRawPointer?
    private let state = Atomic<UInt8>(State.created)

    private enum State {
        static let created: UInt8 = 0
        static let armed: UInt8 = 1
        static let finished: UInt8 = 2
    }

    package init() {}

    /// Waits for the reply; `start` hands the call to the connection (and runs at once).
    ///
    /// - Throws: `CancellationError` when the task is cancelled before the reply arrives,
    ///   or the failure the call was finished with.
    package final func wait(_ start: (MemcacheCall) -> Void) async throws -> MemcacheResponse {
        // Not `withTaskCancellationHandler`: entering its operation closure and returning from
        // the wait inside it were two of a pooled get's four task switches.
        let record = TaskCancellationRecord(notifying: self)
        defer { record.remove() }
        return try await withLoopContinuation { continuation in
            self.continuation = continuation
            self.taskAddress = continuation.taskAddressForPrefetch
            let (exchanged, _) = self.state.compareExchange(
                expected: State.created, desired: State.armed, ordering: .acquiringAndReleasing)
            guard exchanged else {
                continuation.resume(throwing: CancellationError())
                return
            }
            start(self)
        }
    }

    /// Resumes the caller with `result`, unless it was resumed already (then nothing).
    package final func finish(_ result: consuming Result<MemcacheResponse, any Error>) {
        let previous = self.state.exchange(State.finished, ordering: .acquiringAndReleasing)
        guard previous == State.armed, let continuation = self.continuation else { return }
        self.continuation = nil
        continuation.resume(with: result)
    }

    /// Asks the CPU for the memory resuming the caller touches first: this record's lines
    /// and, when `withTask`, the waiting task's first lines (read from this record, so ask
    /// for the record first, a while before). A hint for a loop about to deliver a burst of
    /// replies to callers whose memory has gone cold (thousands of waiting callers): it
    /// never faults and changes nothing.
    package final func prefetchForResume(withTask: Bool) {
        // SAFETY: addresses only prefetched, never read through; `taskAddress` is written
        // before the call reached any loop and never again.
        let record = UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
        guard withTask else {
            CachePrefetch.forReading(record, lines: 2)
            return
        }
        // The task object's first lines: its header and the status a resume changes.
        if let task = self.taskAddress { CachePrefetch.forReading(task, lines: 4) }
    }

    /// The caller's task was cancelled: it resumes at once with `CancellationError`.
    package final func taskWasCancelled() {
        self.finish(.failure(CancellationError()))
    }

    /// Whether the caller is still waiting (not cancelled, not finished).
    package final var isWaiting: Bool {
        self.state.load(ordering: .relaxed) != State.finished
    }
}
