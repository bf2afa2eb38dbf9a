import DequeModule
import Synchronization

/// An event loop on its own thread, driven by epoll: the loop of `EventLoopGroup`.
///
/// Thread-safe: `execute`, `scheduleTask` and `inEventLoop` may be called from any thread.
/// Everything else runs on the loop's thread. The cross-thread task queue is the only shared
/// structure; the loop is woken through its eventfd only when it is actually asleep.
// SAFETY: lock or loop thread, below
public final class SelectableEventLoop: EventLoop, TurnEndFlushing, @unchecked Sendable { // SAFETY: see above
    // SAFETY: the fields under "cross-thread" are only touched while holding `lock`; the
    // fields under "loop-confined" only on the loop thread (after `run` starts there).
    enum Task {
        case closure(@Sendable () -> Void)
        case job(UnownedJob)
        /// An object's own work (see `LoopWork`).
        case work(any LoopWork)
        /// A job the runtime queued for its global executor from this loop's thread while a
        /// channel delivered its reads (`EventLoopGroup.keepResumedTasksOnLoops()`).
        case globalJob(UnownedJob)
    }

    // cross-thread
    private let lock = Lock()
    private var incoming = Deque<Task>()
    private var asleep = false
    private var acceptingTasks = true
    private var runningLateTasks = false
    private let threadID = Atomic<UInt>(0)
    private let timerIDs = Atomic<UInt64>(0)

    // loop-confined
    let selector: Selector
    // The two task queues and the capture slot below are touched on every task; each access
    // is a plain queue or enum operation that calls out to nothing, so the runtime's
    // exclusivity check (two calls and a thread-local lookup per access) is off for them.
    @exclusivity(unchecked) private var running = Deque<Task>()
    /// Tasks the loop's own thread queued (a caller on the loop resumed by a reply, a handler
    /// deferring work): no lock, and no wake-up, since the loop is plainly awake.
    @exclusivity(unchecked) private var local = Deque<Task>()
    /// A task's job runs on this thread now (see `capturingResumedJob`).
    private var runningJob = false
    /// Whether the next job queued from this thread is kept for its resumer (see
    /// `capturingResumedJob`).
    @exclusivity(unchecked) private var jobCapture = JobCapture.off
    /// The channel reading from its socket now: its read burst ends with
    /// `channelReadComplete`, or with the channel closed (see `capturingResumedJob`).
    package var channelInReadBurst: ObjectIdentifier?
    /// Due work is taken out before it runs, so no access is open while it does.
    @exclusivity(unchecked) private var timers = TimerQueue()
    private var shuttingDown = false
    /// The time `turnTime()` gave this turn, if anything asked yet (cleared as a turn starts).
    /// Plain reads and assignments that call out to nothing: no exclusivity check.
    @exclusivity(unchecked) private var turnClock: Deadline?
    /// Flushes owed at the end of the current turn (`ChannelHandlerContext.flushAtEndOfTurn`).
    let turnEndFlushes = TurnEndFlushes()
    let ioVectors = IOVectors()
    /// `recvmmsg`/`sendmmsg` headers, made when the loop's first datagram channel needs them.
    lazy var datagramReceiver = DatagramVectors()
    lazy var datagramSender = DatagramVectors()
    /// Read buffers that no channel holds any more: the loop's next reads reuse them, so
    /// channels need not keep one each (an idle connection then holds no read buffer). More
    /// than one, because a pipeline that hands its reads to async code keeps each until its
    /// task wrote it back: those buffers return here from the write queue (`offerReadBuffer`)
    /// instead of going back to malloc, which would hand the next read fresh pages to fault in.
    // These spares are taken and given back on every read and write by array and deque
    // operations that call out to nothing: the runtime's exclusivity check is off for them.
    @exclusivity(unchecked) private var spareReadBuffers: [ByteBuffer] = []
    private var spareReadBytes = 0
    /// At most this many bytes of spares per loop: enough for the reads of one turn of a busy
    /// loop whose tasks hold them (64 of 64 KiB), not more.
    private static let maximumSpareReadBytes = 4 << 20
    /// Read buffers a pipeline still held when their read ended — the values of replies
    /// handed to callers whose tasks this turn resumes — looked at again when the turn ends:
    /// by then those callers ran and let go of them, and a buffer nobody holds becomes a
    /// spare. Dropped at the read, every read of a busy client connection took a new buffer
    /// from malloc (a `malloc` uprobe: 0.06 of the 1.06 allocations per pooled get, one
    /// per read of 16 replies). Callers in plain tasks run on other threads, a turn or two
    /// later: a buffer still held is looked at again at the ends of the next few turns
    /// (`heldReadBufferTurns`) before it is left to its holders — dropped at the first turn's
    /// end, 0.08–0.13 allocations per get from a plain task went to read buffers.
    @exclusivity(unchecked) private var heldReadBuffers: [(buffer: ByteBuffer, turnsLeft: UInt8)] = []
    /// Turn ends at which a held read buffer is looked at (its holders may keep a value for
    /// good: then it is only theirs).
    private static let heldReadBufferTurns: UInt8 = 16
    /// Held read buffers the loop still looks at (tests). Loop only.
    package var heldReadBufferCount: Int { self.heldReadBuffers.count }
    /// How many read buffers this loop took from malloc (not from its spares). Loop only.
    package private(set) var readBuffersAllocated = 0
    /// Write-queue storage and a list for completed write promises that no channel holds:
    /// lent for a write, given back once the queue is empty (idle channels keep neither).
    @exclusivity(unchecked) var spareWriteQueue = Deque<PendingWrites.Entry>()
    @exclusivity(unchecked) var spareCompletedWrites: [EventLoopPromise<Void>?] = []
    /// The loop's position in its group's `loops`.
    public let index: Int
    /// Its group's token (`EventLoopGroup.current`, `currentIndex`).
    let groupToken: UInt64

    /// This loop as the runtime's task executor, made once (set in `init`): asked for per
    /// job, `asUnownedTaskExecutor()` looked up the conformance and retained the loop.
    private var ownTaskExecutor = SelectableEventLoop.globalTaskExecutor

    /// Cross-thread: `incoming.count`, or -1 while `asleep`, written with them under `lock`
    /// and read without it by callers choosing a loop (`queuedTasksIfAwake`). Declared after
    /// the loop-confined fields so that none of theirs moved.
    private let queueHint = Atomic<Int>(0)

    init(index: Int, groupToken: UInt64) throws {
        self.index = index
        self.groupToken = groupToken
        self.selector = try Selector()
        self.ownTaskExecutor = self.asUnownedTaskExecutor()
    }

    /// Makes `buffer` an empty buffer of at least `size` bytes for a socket read: the same
    /// storage again when the pipeline kept no reference to it, else the loop's spare, else a
    /// new one. A buffer far larger than `size` is not reused, so one burst's memory does not
    /// stay.
    func prepareReadBuffer(_ buffer: inout ByteBuffer, size: Int) {
        if buffer.capacity == 0 || !buffer.isUniquelyOwned() {
            buffer = self.spareReadBuffers.popLast() ?? ByteBuffer()
            self.spareReadBytes -= buffer.capacity
        }
        guard buffer.capacity >= size, buffer.capacity <= 4 * size, buffer.isUniquelyOwned() else {
            buffer = ByteBuffer(capacity: size)
            self.readBuffersAllocated &+= 1
            return
        }
        buffer.clear()
    }

    /// Keeps `buffer` as one of the loop's spares if nothing else holds it, or, when the
    /// pipeline still holds it, looks again at the end of the turn.
    func recycleReadBuffer(_ buffer: inout ByteBuffer) {
        guard buffer.capacity > 0 else { return }
        if buffer.isUniquelyOwned() {
            self.keepSpare(&buffer)
        } else if buffer.isWholeStorage, buffer.capacity <= 4 * ReceiveBufferSizer.maximum {
            self.heldReadBuffers.append((buffer, Self.heldReadBufferTurns))
            buffer = ByteBuffer()
        }
    }

    /// End of the turn: the held read buffers nobody holds any more become spares; the others
    /// wait for a later turn's end, or, after the last, are left to whoever holds them.
    private func recycleHeldReadBuffers() {
        var index = self.heldReadBuffers.count
        while index > 0 {
            index -= 1
            let isFree = self.heldReadBuffers[index].buffer.isUniquelyOwned()
            self.heldReadBuffers[index].turnsLeft -= 1
            guard isFree || self.heldReadBuffers[index].turnsLeft == 0 else { continue }
            // Moved out (the last entry into its place), not copied: a retain and a release.
            self.heldReadBuffers.swapAt(index, self.heldReadBuffers.count - 1)
            let buffer = self.heldReadBuffers.removeLast().buffer
            if isFree, self.spareReadBytes + buffer.capacity <= Self.maximumSpareReadBytes {
                self.spareReadBytes += buffer.capacity
                self.spareReadBuffers.append(consume buffer)
            }
        }
    }

    /// A buffer a write queue is done with: kept as a spare read buffer when it is one (whole
    /// storage of a read buffer's size, held by nothing else), else dropped as before.
    func offerReadBuffer(_ buffer: inout ByteBuffer) {
        guard buffer.capacity >= ReceiveBufferSizer.minimum, buffer.capacity <= 4 * ReceiveBufferSizer.maximum,
            buffer.isWholeStorage, buffer.isUniquelyOwned()
        else { return }
        self.keepSpare(&buffer)
    }

    private func keepSpare(_ buffer: inout ByteBuffer) {
        guard self.spareReadBytes + buffer.capacity <= Self.maximumSpareReadBytes else { return }
        self.spareReadBytes += buffer.capacity
        self.spareReadBuffers.append(buffer)
        buffer = ByteBuffer()
    }

    public var inEventLoop: Bool {
        self.threadID.load(ordering: .acquiring) == OSThread.currentID
    }

    public var now: Deadline { .now() }

    /// The tasks other threads have queued for the loop's next turn, or nil while it sleeps
    /// in (or is about to enter) `epoll_wait`: a hint read without the lock, for choosing a
    /// loop to hand work to (`ConnectionPool` routes callers off the loops by it). A task
    /// queued to a sleeping loop wakes it: a context switch, and on a VM often a wake-up of an
    /// idle virtual CPU, where an awake loop takes the task in its next turn for nothing.
    package var queuedTasksIfAwake: Int? {
        let hint = self.queueHint.load(ordering: .relaxed)
        return hint < 0 ? nil : hint
    }

    public func execute(_ task: @escaping @Sendable () -> Void) {
        self.enqueue(.closure(task))
    }

    func enqueue(_ task: Task) {
        if self.inEventLoop, !self.shuttingDown {
            if case .armed = self.jobCapture, case .job(let job) = task {
                self.jobCapture = .captured(job)
                return
            }
            self.local.append(task)
            return
        }
        enum Decision { case queued, wake, late }
        let decision: Decision = self.lock.withLock {
            guard self.acceptingTasks else {
                self.incoming.append(task)
                if self.runningLateTasks { return .queued }
                self.runningLateTasks = true
                return .late
            }
            self.incoming.append(task)
            self.queueHint.store(self.incoming.count, ordering: .relaxed)
            if self.asleep {
                self.asleep = false
                return .wake
            }
            return .queued
        }
        switch decision {
        case .queued: break
        case .wake: self.selector.wakeup()
        case .late: self.runLateTasks()
        }
    }

    /// After the loop thread has exited, late tasks (mostly promise completions) run on the
    /// submitting thread, one at a time, so that nobody waits forever on a dead loop. While it
    /// runs them, that thread is this loop's (`inEventLoop` is true there): loop-confined code
    /// in a late task passes its confinement checks, and nothing else can run meanwhile.
    private func runLateTasks() {
        let me = OSThread.currentID
        self.threadID.store(me, ordering: .releasing)
        defer { _ = self.threadID.compareExchange(expected: me, desired: 0, ordering: .releasing) }
        while let task = self.lock.withLock({ () -> Task? in
            if let next = self.incoming.popFirst() { return next }
            self.runningLateTasks = false
            return nil
        }) {
            self.run(task)
        }
    }

    @inline(__always)
    private func run(_ task: Task) {
        switch task {
        case .closure(let body): body()
        case .job(let job): self.runJob(job, on: self.ownTaskExecutor)
        case .work(let work): work.runOnLoop()
        case .globalJob(let job): self.runJob(job, on: Self.globalTaskExecutor)
        }
    }

    private func runJob(_ job: UnownedJob, on executor: UnownedTaskExecutor) {
        // Saved and restored: a late task (after the loop thread ended) may run on a thread
        // that is itself in the middle of a job.
        let wasRunningJob = self.runningJob
        self.runningJob = true
        job.runSynchronously(on: executor)
        self.runningJob = wasRunningJob
    }

    /// A global job runs here as the global executor would run it: with the runtime's default
    /// task executor, which is what a task with no executor preference asks for. Its hops to
    /// the generic executor then see it there already and continue on this thread.
    private static let globalTaskExecutor = globalConcurrentExecutor.asUnownedTaskExecutor()

    /// The global-enqueue hook's half (`EventLoopGroup.keepResumedTasksOnLoops()`), on this
    /// loop's thread: keeps `job` for this turn when the runtime queues it while a channel
    /// delivers its reads (a task with no executor preference that a reply resumed), and
    /// returns false at any other time, when the job goes to the global executor as usual.
    ///
    /// Only during reads, so a task follows the connection that answered it: a rule of "any
    /// job queued from a loop's thread" would gather every task onto whichever loop first
    /// resumed their parent.
    func keepResumedGlobalJob(_ job: UnownedJob) -> Bool {
        guard self.channelInReadBurst != nil, !self.shuttingDown else { return false }
        self.local.append(.globalJob(job))
        return true
    }

    private enum JobCapture {
        case off
        case armed
        case captured(UnownedJob)
    }

    /// Runs `body`, and returns the job of a task that `body` resumed (a continuation) when
    /// that task continues on this loop, instead of queueing it for later in the turn. The
    /// caller must hand the job back exactly once, to `runResumedJob` or `enqueueResumedJob`.
    ///
    /// Why: a channel that hands its reads to a task (an async channel) can then run the task
    /// at the end of the read burst and flush what it wrote, as a handler replies in
    /// `channelReadComplete`, instead of after every other channel's reads of the turn.
    /// Loop only. Returns nil (and queues the job as usual) while a task's job runs on this
    /// thread: one job never runs inside another.
    package func capturingResumedJob(_ body: () -> Void) -> UnownedJob? {
        guard !self.runningJob, case .off = self.jobCapture else {
            body()
            return nil
        }
        self.jobCapture = .armed
        body()
        defer { self.jobCapture = .off }
        if case .captured(let job) = self.jobCapture { return job }
        return nil
    }

    /// Runs a job from `capturingResumedJob` now (queues it when a job runs already). Loop only.
    package func runResumedJob(_ job: UnownedJob) {
        if self.runningJob {
            self.local.append(.job(job))
        } else {
            self.runJob(job, on: self.ownTaskExecutor)
        }
    }

    /// Queues a job from `capturingResumedJob` to run in this turn, as it would have been.
    package func enqueueResumedJob(_ job: UnownedJob) {
        self.enqueue(.job(job))
    }

    public func scheduleTask<T: Sendable>(deadline: Deadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<
        T
    > {
        let promise = self.makePromise(of: T.self)
        let id = self.timerIDs.add(1, ordering: .relaxed).newValue
        let work: TimerQueue.Work = { cancelled in
            if let cancelled {
                promise.fail(cancelled)
            } else {
                do { promise.succeed(try task()) } catch { promise.fail(error) }
            }
        }
        self.executeOnLoop {
            if self.shuttingDown {
                work(ChannelError(.eventLoopShutdown, "the event loop is shutting down"))
            } else {
                self.timers.insert(id: id, deadline: deadline, work: work)
            }
        }
        return Scheduled(futureResult: promise.futureResult) { [self] in
            self.executeOnLoop {
                self.timers.cancel(id: id)?(ChannelError(.cancelled, "scheduled task cancelled"))
            }
        }
    }

    /// The loop running on the calling thread, if any (one thread-specific read).
    static var current: SelectableEventLoop? {
        // SAFETY: the slot holds the loop that runs this thread's `run()`, which holds a
        // reference to itself for as long as the slot is set (cleared before it returns).
        CurrentLoopSlot.get().map { Unmanaged<SelectableEventLoop>.fromOpaque($0).takeUnretainedValue() }
    }

    /// The time of the calling thread's loop turn: read from the clock by the turn's first
    /// call and the same for the rest of the turn; off the loops, the clock's time.
    ///
    /// For code that stamps many events per turn and can take a turn's granularity, as a load
    /// generator timing its requests does (one clock read per turn, as epoll load tools do);
    /// not for deadlines, which a long turn would make late.
    ///
    /// ```swift
    /// let started = SelectableEventLoop.turnTime()
    /// _ = try await pool.get(key)  // a caller on its loop, resumed in a later turn
    /// let latency = SelectableEventLoop.turnTime() - started
    /// ```
    package static func turnTime() -> Deadline {
        guard let slot = CurrentLoopSlot.get() else { return .now() }
        // SAFETY: as in `current`: the loop outlives every read of its own thread's slot.
        return Unmanaged<SelectableEventLoop>.fromOpaque(slot)._withUnsafeGuaranteedRef { $0.currentTurnTime() }
    }

    private func currentTurnTime() -> Deadline {
        if let time = self.turnClock { return time }
        let time = Deadline.now()
        self.turnClock = time
        return time
    }

    /// The current thread's loop's index and group token, read without retaining the loop.
    static var currentPosition: (index: Int, groupToken: UInt64)? {
        guard let slot = CurrentLoopSlot.get() else { return nil }
        // SAFETY: as in `current`: the loop outlives every read of its own thread's slot.
        return Unmanaged<SelectableEventLoop>.fromOpaque(slot)._withUnsafeGuaranteedRef { ($0.index, $0.groupToken) }
    }

    /// The run loop. Runs on the loop's thread until shutdown completes.
    func run() {
        self.threadID.store(OSThread.currentID, ordering: .releasing)
        CurrentLoopSlot.set(Unmanaged.passUnretained(self).toOpaque())
        defer { CurrentLoopSlot.set(nil) }
        while true {
            let hasLocalWork = !self.turnEndFlushes.isEmpty || !self.local.isEmpty
            let hasTasks = self.lock.withLock {
                if self.incoming.isEmpty, !hasLocalWork {
                    self.asleep = true
                    self.queueHint.store(-1, ordering: .relaxed)
                    return false
                }
                return true
            }
            let timeout = hasTasks ? 0 : self.timeoutUntilNextTimer()
            do {
                try self.selector.wait(timeoutMilliseconds: timeout)
            } catch {
                // epoll_wait only fails on our own misuse (EINVAL); keep serving, visibly.
                print("event loop \(self.index): \(error)")
            }
            self.turnClock = nil
            self.runDueTimers()
            self.lock.withLock {
                self.asleep = false
                swap(&self.incoming, &self.running)
                self.queueHint.store(0, ordering: .relaxed)
            }
            // The loop's own tasks queued before this point run in this turn too (after the
            // others: each source keeps its own order); those they queue wait for the next.
            if !self.local.isEmpty {
                self.running.append(contentsOf: self.local)
                self.local.removeAll(keepingCapacity: true)
            }
            while let task = self.running.popFirst() {
                self.run(task)
            }
            // The turn ends: every channel written to during it makes one gathering write.
            self.turnEndFlushes.run()
            if !self.heldReadBuffers.isEmpty { self.recycleHeldReadBuffers() }
            // The emptiness check and the switch to late tasks are one critical section: a
            // task enqueued in between would otherwise never run.
            if self.shuttingDown, self.selector.registeredCount == 0, self.timers.count == 0, self.local.isEmpty,
                self.turnEndFlushes.isEmpty,
                self.lock.withLock({ () -> Bool in
                    guard self.incoming.isEmpty else { return false }
                    self.acceptingTasks = false
                    return true
                })
            {
                break
            }
        }
        // The selector's descriptors stay open until this loop is deallocated: a producer that
        // decided to wake us may still be about to write the eventfd, and it holds a reference.
        // pthread ids are reused once a thread exits: forget ours so no other thread is
        // mistaken for this loop (unless a late-task runner took the loop over already).
        _ = self.threadID.compareExchange(expected: OSThread.currentID, desired: 0, ordering: .releasing)
    }

    private func timeoutUntilNextTimer() -> Int32 {
        guard let next = self.timers.nextDeadline() else { return -1 }
        let wait = next - .now()
        if wait.nanoseconds <= 0 { return 0 }
        // Round up: waking a little late is fine, waking early would spin.
        return Int32(clamping: wait.roundedUp(to: 1_000_000))
    }

    private func runDueTimers() {
        guard self.timers.count > 0 else { return }
        let now = self.currentTurnTime()
        while let work = self.timers.popDue(now: now) {
            work(nil)
        }
    }

    /// Starts shutting down: closes every registered channel and fails pending timers.
    /// The loop thread exits once nothing is left.
    func beginShutdown() {
        self.execute { [self] in
            guard !self.shuttingDown else { return }
            self.shuttingDown = true
            self.selector.refusesRegistrations = true
            for owner in self.selector.owners {
                owner.closeForShutdown()
            }
            let error = ChannelError(.eventLoopShutdown, "the event loop is shutting down")
            for work in self.timers.removeAll() {
                work(error)
            }
        }
    }
}
