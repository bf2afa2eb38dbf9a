import Channels
import TestSupport
import Testing

/// Loop-confined record of what ran; checked after the loop drained.
final class RunLog: @unchecked Sendable {
    // SAFETY: appended to only on one loop; read by the test after a barrier on that loop.
    var fired: [(deadline: Deadline, id: Int)] = []
    var counts: [UInt8]
    var wrongLoop = 0
    init(taskCount: Int = 0) { self.counts = [UInt8](repeating: 0, count: taskCount) }
}

@Suite("Event loop tasks and timers")
struct SelectableEventLoopTests {
    @Test("10,000 timers with random delays, half cancelled: the rest fire in deadline order, the cancelled never")
    func timersFireInDeadlineOrder() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let log = RunLog()
        // Scheduled and half cancelled in one task on the loop, so every timer is known and
        // every cancel done before the first deadline, however loaded the machine is.
        // (Cancelling from another thread is covered by the next test.)
        let (kept, cancelled) = try await loop.submit { () -> ([Scheduled<Void>], [Scheduled<Void>]) in
            var generator = SplitMix64(seed: 42)
            let start = loop.now
            var kept: [Scheduled<Void>] = []
            var cancelled: [Scheduled<Void>] = []
            for id in 0..<10_000 {
                let deadline = start + .milliseconds(Int64.random(in: 50...300, using: &generator))
                let task = loop.scheduleTask(deadline: deadline) { log.fired.append((deadline, id)) }
                if Bool.random(using: &generator) {
                    task.cancel()
                    cancelled.append(task)
                } else {
                    kept.append(task)
                }
            }
            return (kept, cancelled)
        }.get()
        for task in kept { try await task.futureResult.get() }
        for task in cancelled {
            await #expect(throws: ChannelError.self) { try await task.futureResult.get() }
        }
        try await loop.submit {}.get()
        #expect(log.fired.count == kept.count)
        let deadlines = log.fired.map(\.deadline)
        let inOrder = zip(deadlines, deadlines.dropFirst()).allSatisfy { $0 <= $1 }
        #expect(inOrder, "timers fired out of deadline order")
        #expect(Set(log.fired.map(\.id)).count == kept.count)
    }

    @Test("a cancelled timer's future fails with ChannelError.cancelled")
    func cancelledTimerFails() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let task = group.next().scheduleTask(in: .seconds(60)) { 1 }
        task.cancel()
        do {
            _ = try await task.futureResult.get()
            Issue.record("a cancelled task ran")
        } catch let error as ChannelError {
            #expect(error.code == .cancelled)
        }
    }

    @Test("8 threads submit 1,000,000 tasks in total: each runs exactly once, on its loop")
    func millionTasksFromEightThreads() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let total = 1_000_000
        let logs = group.loops.map { _ in RunLog(taskCount: total) }
        await runOnThreads(count: 8) { thread in
            // A plain counter: `stride`'s iterator asked the runtime for tuple metadata on
            // every step in a debug build, and under a sanitizer 8 threads queued on its lock.
            var next = thread
            while next < total {
                let id = next
                next += 8
                let index = id % 2
                let loop = group.loops[index]
                let log = logs[index]
                loop.execute {
                    if !loop.inEventLoop { log.wrongLoop += 1 }
                    log.counts[id] &+= 1
                }
            }
        }
        // Every task was queued before these barriers, and each loop runs its queue in order.
        for loop in group.loops { try await loop.submit {}.get() }
        var ranOnce = 0
        for id in 0..<total {
            let count = logs[id % 2].counts[id]
            if count == 1 { ranOnce += 1 }
        }
        #expect(ranOnce == total)
        #expect(logs.allSatisfy { $0.wrongLoop == 0 })
        #expect(logs[0].counts.enumerated().allSatisfy { $0.offset % 2 == 0 || $0.element == 0 })
    }

    @Test("an event loop is a task executor: async code with its preference runs on its thread")
    func taskExecutorPreference() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let onLoop = await withTaskExecutorPreference(loop) { () async -> Bool in
            await Task.yield()
            return loop.inEventLoop
        }
        #expect(onLoop)
        let stillOnLoop = try await withTaskExecutorPreference(loop) { () async throws -> Bool in
            try await loop.submit {}.get()
            return loop.inEventLoop
        }
        #expect(stillOnLoop)
    }

    @Test("the turn time is read once per loop turn: the same all turn, later in the next, the clock off the loops")
    func turnTimeIsPerTurn() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let (first, again, nextTurn) = try await loop.submit {
            () -> (Deadline, Deadline, EventLoopFuture<Deadline>) in
            let first = SelectableEventLoop.turnTime()
            // The clock moves on (a millisecond, spun on the loop) while the turn does not.
            while Deadline.now() < first + .milliseconds(1) {}
            let again = SelectableEventLoop.turnTime()
            // Queued by the loop's own task: it runs in the next turn.
            return (first, again, loop.submit { SelectableEventLoop.turnTime() })
        }.get()
        #expect(again == first)
        #expect(try await nextTurn.get() >= first + .milliseconds(1))
        let before = Deadline.now()
        #expect(SelectableEventLoop.turnTime() >= before)
    }

    @Test("shutting down twice is harmless, and shutting down from a loop is refused")
    func shutdownTwice() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let loop = group.next()
        let refused = try await loop.submit { () -> Bool in
            do { try group.syncShutdownGracefully() } catch { return true }
            return false
        }.get()
        #expect(refused)
        try group.syncShutdownGracefully()
        try group.syncShutdownGracefully()
        try await group.shutdownGracefully()
        // A dead loop still completes late work (on the caller's thread) instead of dropping it.
        #expect(try await loop.submit { 7 }.get() == 7)
    }

    @Test("a group of no loops, or fewer, is a typed error, not a crash")
    func noLoops() throws {
        for count in [0, -1, Int.min] {
            #expect {
                _ = try EventLoopGroup(loopCount: count)
            } throws: { error in
                (error as? ChannelError)?.code == .invalidArgument && "\(error)".contains("asked for \(count)")
            }
        }
    }
}

@Suite("What other threads see of a loop")
struct LoopQueueHintTests {
    @Test("an idle loop reads as asleep; a busy one as awake with the tasks queued for its next turn")
    func queuedTasksIfAwake() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let loop = group.loops[0]
        // Idle, it sleeps in epoll_wait.
        #expect(try await poll { loop.queuedTasksIfAwake == nil })
        let blocker = try await LoopBlocker(loop)
        #expect(loop.queuedTasksIfAwake == 0)
        for _ in 0..<3 { loop.execute {} }
        #expect(loop.queuedTasksIfAwake == 3)
        blocker.release()
        // The next turn takes the three, and with nothing left the loop sleeps again.
        #expect(try await poll { loop.queuedTasksIfAwake == nil })
        try await group.shutdownGracefully()
    }
}
