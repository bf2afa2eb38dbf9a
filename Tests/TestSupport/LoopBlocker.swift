public import Channels
import Glibc
import Synchronization

/// Keeps a loop busy — awake, running one task — until `release()`, for tests of what other
/// threads see of a loop at work. Bounded: the task gives up after `testPatience`.
public final class LoopBlocker: Sendable {
    private let released = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)

    /// Starts the blocking task on `loop` and returns once it runs.
    public init(_ loop: any EventLoop) async throws {
        let deadline = Deadline.now() + testPatience
        loop.execute {
            self.running.store(true, ordering: .releasing)
            while !self.released.load(ordering: .acquiring), Deadline.now() < deadline { usleep(200) }
        }
        guard try await poll(until: { self.running.load(ordering: .acquiring) }) else {
            self.release()
            throw TestSupportError("the loop never ran the blocking task")
        }
    }

    public func release() { self.released.store(true, ordering: .releasing) }
}
