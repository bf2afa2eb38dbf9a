import Synchronization
import TestSupport
import Testing

@testable import Channels

@Suite("Task cancellation records added without withTaskCancellationHandler")
struct TaskCancellationRecordTests {
    /// Counts how often it was told, and ends a parked wait with `CancellationError`.
    final class Target: TaskCancellationTarget, Sendable {
        let told = Atomic<Int>(0)
        let parked = LockedValue<LoopContinuation<Void>?>(nil)
        let isParked = Atomic<Bool>(false)
        /// Set by the task once its record is removed: the target must not be told after.
        let removed = Atomic<Bool>(false)
        let toldAfterRemoval = Atomic<Bool>(false)

        func taskWasCancelled() {
            if self.removed.load(ordering: .acquiring) { self.toldAfterRemoval.store(true, ordering: .releasing) }
            self.told.add(1, ordering: .relaxed)
            self.parked.withLock { $0.take() }?.resume(throwing: CancellationError())
        }

        /// After the test's patience, ends a wait nobody ended (so a broken record fails the
        /// test instead of hanging it).
        func release() {
            self.parked.withLock { $0.take() }?.resume(throwing: TimedOut())
        }

        struct TimedOut: Error {}

        func park(_ continuation: LoopContinuation<Void>) {
            self.parked.withLock { $0 = continuation }
            self.isParked.store(true, ordering: .releasing)
        }
    }

    @Test("a task cancelled while it waits with a record on it tells the target once, and the wait ends")
    func cancelledWhileWaiting() async throws {
        let target = Target()
        let task = Task {
            let record = TaskCancellationRecord(notifying: target)
            defer { record.remove() }
            try await withLoopContinuation { target.park($0) }
        }
        #expect(try await poll { target.isParked.load(ordering: .acquiring) })
        task.cancel()
        #expect(try await poll { target.told.load(ordering: .relaxed) == 1 })
        target.release()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test("a task cancelled before the record is added tells the target at once, before the record's init returns")
    func cancelledBeforeAdding() async {
        let target = Target()
        let toldInInit = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            let record = TaskCancellationRecord(notifying: target)
            let told = target.told.load(ordering: .relaxed)
            record.remove()
            return told
        }.value
        #expect(toldInInit == 1)
        #expect(target.told.load(ordering: .relaxed) == 1)
    }

    @Test("a record removed before its task is cancelled is never told")
    func removedBeforeCancelling() async throws {
        let target = Target()
        let (cancelled, cancelledContinuation) = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            let record = TaskCancellationRecord(notifying: target)
            record.remove()
            target.removed.store(true, ordering: .releasing)
            for await _ in cancelled {}
        }
        #expect(try await poll { target.removed.load(ordering: .acquiring) })
        task.cancel()
        cancelledContinuation.finish()
        await task.value
        #expect(target.told.load(ordering: .relaxed) == 0)
    }

    @Test("two records on one task, the newest removed first: a cancellation tells both targets")
    func nested() async throws {
        let outer = Target()
        let inner = Target()
        let task = Task {
            let outerRecord = TaskCancellationRecord(notifying: outer)
            defer { outerRecord.remove() }
            let innerRecord = TaskCancellationRecord(notifying: inner)
            defer { innerRecord.remove() }
            try await withLoopContinuation { inner.park($0) }
        }
        #expect(try await poll { inner.isParked.load(ordering: .acquiring) })
        task.cancel()
        #expect(try await poll { inner.told.load(ordering: .relaxed) == 1 })
        inner.release()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(outer.told.load(ordering: .relaxed) == 1)
        #expect(inner.told.load(ordering: .relaxed) == 1)
    }

    @Test("500 cancellations racing with the record's removal: each target told at most once, never after removal")
    func cancellationRacingRemoval() async {
        for _ in 0..<500 {
            let target = Target()
            let task = Task {
                let record = TaskCancellationRecord(notifying: target)
                await Task.yield()
                record.remove()
                target.removed.store(true, ordering: .releasing)
            }
            task.cancel()
            await task.value
            #expect(target.told.load(ordering: .relaxed) <= 1)
            let toldAfterRemoval = target.toldAfterRemoval.load(ordering: .acquiring)
            #expect(!toldAfterRemoval)
        }
    }
}
