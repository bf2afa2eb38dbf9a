import Channels
import Codecs

/// The replies of the copies a replicated write started without a task (slots 1 and up; slot
/// 0 is the writer's own), awaited together.
///
/// Thread-safe: replies are delivered on the copies' loops, under a lock; the writer waits
/// once, and a writer cancelled meanwhile stops waiting (the copies still missing count as
/// failed; their replies, when they come, are dropped).
final class StartedCopies: TaskCancellationTarget, Sendable {
    private struct State {
        var outcomes: [Result<MemcacheResponse, MemcacheError>?]
        var missing: Int
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let count: Int
    private let state: LockedValue<State>

    init(count: Int) {
        self.count = count
        self.state = LockedValue(
            State(outcomes: Array(repeating: nil, count: count), missing: max(0, count - 1), waiter: nil))
    }

    /// The outcome of the copy at `slot`; the first delivery of a slot counts.
    func deliver(_ slot: Int, _ outcome: Result<MemcacheResponse, MemcacheError>) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            if case .some = state.outcomes[slot] { return nil }
            state.outcomes[slot] = outcome
            state.missing -= 1
            guard state.missing == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The writer was cancelled: the copies still missing count as failed.
    func taskWasCancelled() {
        for slot in 1..<max(1, self.count) {
            self.deliver(slot, .failure(MemcacheError(.connectionClosed, "the writer was cancelled")))
        }
    }

    /// Every slot's outcome once all are in (slot 0's is a placeholder for the writer's own).
    func all() async -> [Result<MemcacheResponse, MemcacheError>] {
        let record = TaskCancellationRecord(notifying: self)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = self.state.withLock { state -> Bool in
                guard state.missing > 0 else { return true }
                state.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
        record.remove()
        return self.state.withLock { state in
            state.outcomes.map { $0 ?? .failure(MemcacheError(.connectionClosed, "no outcome")) }
        }
    }
}
