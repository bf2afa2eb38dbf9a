import DequeModule
import Synchronization

/// An event loop for unit tests: nothing runs until the test says so, and time moves only
/// when the test moves it.
///
/// Not thread-safe: use from the test's own thread only (it reports itself as always "in
/// the loop"). `run()` runs queued tasks; `advanceTime(by:)` fires due timers in order. The
/// one exception is its task queue, which is locked: as a task executor it is handed jobs by
/// the Swift runtime from whatever thread resumes them, and they wait there for `run()`.
///
/// ```swift
/// let loop = EmbeddedEventLoop()
/// let fired = loop.scheduleTask(in: .seconds(5)) { "done" }
/// loop.advanceTime(by: .seconds(5))   // runs the timer
/// ```
// SAFETY: single-thread test use, below
public final class EmbeddedEventLoop: EventLoop, TurnEndFlushing, @unchecked Sendable { // SAFETY: see above
    // SAFETY: documented single-thread test use; no method is meant to be called concurrently,
    // except that `tasks` is locked (see the type comment).
    private let tasks = LockedValue(Deque<SelectableEventLoop.Task>())
    private var timers = TimerQueue()
    private var nextTimerID: UInt64 = 0
    private var time = Deadline(uptimeNanoseconds: 0)
    private var isShutDown = false
    let turnEndFlushes = TurnEndFlushes()

    public init() {}

    public var inEventLoop: Bool { true }
    public var now: Deadline { self.time }

    public func execute(_ task: @escaping @Sendable () -> Void) {
        self.tasks.withLock { $0.append(.closure(task)) }
    }

    public func scheduleTask<T: Sendable>(deadline: Deadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<
        T
    > {
        let promise = self.makePromise(of: T.self)
        self.nextTimerID += 1
        let id = self.nextTimerID
        let work: TimerQueue.Work = { cancelled in
            if let cancelled {
                promise.fail(cancelled)
            } else {
                do { promise.succeed(try task()) } catch { promise.fail(error) }
            }
        }
        if self.isShutDown {
            work(ChannelError(.eventLoopShutdown, "the embedded loop is shut down"))
        } else {
            self.timers.insert(id: id, deadline: deadline, work: work)
        }
        return Scheduled(futureResult: promise.futureResult) { [self] in
            self.timers.cancel(id: id)?(ChannelError(.cancelled, "scheduled task cancelled"))
        }
    }

    /// Runs every queued task, including those queued meanwhile, and the timers due now; then
    /// ends the turn (the flushes asked for with `flushAtEndOfTurn()` happen).
    public func run() {
        self.advanceTime(by: .zero)
    }

    /// Moves time forward, firing due timers in deadline order (time stands at each
    /// timer's deadline while it runs) and running the tasks they queue.
    public func advanceTime(by amount: TimeAmount) {
        let target = self.time + amount
        self.runTasks()
        while let next = self.timers.nextDeadline(), next <= target {
            self.time = max(self.time, next)
            while let work = self.timers.popDue(now: self.time) {
                work(nil)
            }
            self.runTasks()
        }
        self.time = max(self.time, target)
    }

    private func runTasks() {
        repeat {
            while let task = self.tasks.withLock({ $0.popFirst() }) {
                switch task {
                case .closure(let body): body()
                case .job(let job): job.runSynchronously(on: self.asUnownedTaskExecutor())
                case .work(let work): work.runOnLoop()
                // Never queued here (the hook keeps jobs only on a `SelectableEventLoop`).
                case .globalJob(let job): job.runSynchronously(on: globalConcurrentExecutor.asUnownedTaskExecutor())
                }
            }
            self.turnEndFlushes.run()
        } while !self.tasks.withLock({ $0.isEmpty }) || !self.turnEndFlushes.isEmpty
    }

    /// Fails every pending timer and runs what is queued.
    public func shutdown() {
        self.isShutDown = true
        for work in self.timers.removeAll() {
            work(ChannelError(.eventLoopShutdown, "the embedded loop is shut down"))
        }
        self.runTasks()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.tasks.withLock { $0.append(.job(job)) }
    }
}
