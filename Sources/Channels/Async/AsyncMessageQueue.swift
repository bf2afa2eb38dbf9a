// Public: the consumer's inlinable path (`takeBuffered`, `park`) reads the buffer.
public import DequeModule

/// The hand-off between a channel's loop (one producer at a time) and one async consumer:
/// a buffer, the consumer's parked continuation, the end of the stream, and the watermarks
/// that tell the producer when to stop and resume reading.
///
/// Thread-safe: every field is read and written under `lock`. Continuations are resumed
/// after the lock is released (a resumed task may run inline and come straight back).
///
/// The consumer's side (`next`, `takeBuffered`, `park`) is `@inlinable`, so it is compiled for
/// the element type in the consumer's module; `push` and `finish`, called by the channel's
/// handler on the loop, carry `@_specialize(where Element == ByteBuffer)`, as do the async
/// channel's handler and writer. Generic code is not specialized for a caller in another
/// module, and unspecialized it looked up type metadata (`Deque<Element>`,
/// `Optional<Element>`, the continuation's) several times per message: five for an element
/// type of the user's, such as the HTTP example's requests, where now there are none (`push`
/// resumes the consumer through `LoopContinuation.resume(returning:)`, which needs none).
@usableFromInline
final class AsyncMessageQueue<Element: Sendable>: @unchecked Sendable { // SAFETY: state only under `lock`
    @usableFromInline
    struct State {
        @usableFromInline var buffer = Deque<Element>()
        @usableFromInline var waiter: LoopContinuation<Element?>?
        /// Set once: nil while open, `.success` at a clean end, `.failure` after an error.
        @usableFromInline var end: Result<Void, any Error>?
        /// The producer was told to stop (the buffer reached the high watermark).
        @usableFromInline var producerPaused = false
        /// The task inside `withConsumerScope` (its address), whose cancellation that scope's
        /// one handler watches: its `next()` calls need no handler of their own.
        @usableFromInline var scopeTask: UInt?
        /// A cancellation handler of the consumer ran while it was not waiting: its next
        /// wait fails (read here rather than the task's own flag, which costs a lookup of
        /// the current task per wait).
        @usableFromInline var cancelledBeforeWaiting = false

        init() {}
    }

    @usableFromInline let lock = Lock()
    @usableFromInline var state = State()
    private let highWatermark: Int
    @usableFromInline let lowWatermark: Int
    /// Called (off the lock, on the consumer's thread) when a paused producer may go on.
    @usableFromInline let resumeProducer: @Sendable () -> Void
    /// Called once when a waiting consumer's task is cancelled.
    @usableFromInline let consumerCancelled: @Sendable () -> Void
    /// Called for each element that will never reach the consumer (dropped by `cancel`, or
    /// offered after the end): a connection to close, for example.
    private let discard: @Sendable (Element) -> Void

    /// - Parameters:
    ///   - highWatermark: the buffered count at which `push` asks the producer to pause.
    ///   - lowWatermark: the buffered count at or below which a paused producer is resumed.
    ///   - resumeProducer: tells a paused producer to go on (from the consumer's thread).
    ///   - consumerCancelled: the consumer's task was cancelled while it waited.
    ///   - discard: takes each element the consumer will never get.
    init(
        highWatermark: Int,
        lowWatermark: Int,
        resumeProducer: @escaping @Sendable () -> Void,
        consumerCancelled: @escaping @Sendable () -> Void = {},
        discard: @escaping @Sendable (Element) -> Void = { _ in }
    ) {
        self.highWatermark = max(1, highWatermark)
        self.lowWatermark = min(max(0, lowWatermark), self.highWatermark - 1)
        self.resumeProducer = resumeProducer
        self.consumerCancelled = consumerCancelled
        self.discard = discard
    }

    /// Hands `element` to the consumer (directly when it waits).
    ///
    /// - Returns: true when the producer should pause (the buffer reached the high watermark);
    ///   it is told to go on through `resumeProducer` once the consumer drained the buffer.
    @_specialize(where Element == ByteBuffer)
    func push(_ element: Element) -> Bool {
        self.lock.lock()
        guard self.state.end == nil else {
            self.lock.unlock()
            self.discard(element)
            return false
        }
        if let waiter = self.state.waiter {
            self.state.waiter = nil
            self.lock.unlock()
            waiter.resume(returning: element)
            return false
        }
        self.state.buffer.append(element)
        let pause = !self.state.producerPaused && self.state.buffer.count >= self.highWatermark
        if pause { self.state.producerPaused = true }
        self.lock.unlock()
        return pause
    }

    /// Ends the stream once the buffered elements are consumed: cleanly, or with `error`.
    /// Later calls do nothing.
    @_specialize(where Element == ByteBuffer)
    func finish(_ error: (any Error)? = nil) {
        self.lock.lock()
        guard self.state.end == nil else {
            self.lock.unlock()
            return
        }
        self.state.end = error.map { .failure($0) } ?? .success(())
        let waiter = self.state.waiter
        self.state.waiter = nil
        self.lock.unlock()
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    /// Ends the stream now, dropping what is buffered (the consumer gave up).
    @usableFromInline
    func cancel(_ error: any Error) {
        self.lock.lock()
        let dropped = self.state.buffer
        self.state.buffer.removeAll()
        if self.state.end == nil { self.state.end = .failure(error) }
        let waiter = self.state.waiter
        self.state.waiter = nil
        self.lock.unlock()
        waiter?.resume(throwing: error)
        for element in dropped { self.discard(element) }
    }

    /// How many elements wait for the consumer.
    var bufferedCount: Int { self.lock.withLock { self.state.buffer.count } }

    /// The next element; nil at a clean end.
    ///
    /// - Throws: the error the stream ended with, or `CancellationError` when the calling
    ///   task is cancelled while it waits (the stream then ends for good, and
    ///   `consumerCancelled` is called).
    ///
    /// Specialized by the consumer's module (inlinable) but kept out of line: an async call
    /// into this module's generic code would cost a frame for its generic entry point and
    /// another for the specialization it branches to (each frame two lookups of the current
    /// task), and inlined into the consumer's loop its waits took more executor checks per
    /// message (3.9 against 3.0). The synchronous calls it makes branch to their `ByteBuffer`
    /// specializations.
    @inlinable
    @inline(never)
    func next() async throws -> Element? {
        var coveredByScope = false
        if let ready = try self.takeBuffered(coveredByScope: &coveredByScope) { return ready }
        if coveredByScope { return try await withLoopContinuation { self.park($0) } }
        return try await withTaskCancellationHandler {
            try await withLoopContinuation { self.park($0) }
        } onCancel: {
            self.cancelWaitingConsumer()
        }
    }

    /// Runs `body`, in which the calling task consumes this queue, with one cancellation
    /// handler for all its waits instead of one per `next()`.
    func withConsumerScope<Result>(_ body: () async throws -> Result) async throws -> Result {
        let task = Self.currentTaskAddress()
        let owns: Bool = self.lock.withLock {
            guard self.state.scopeTask == nil, let task else { return false }
            self.state.scopeTask = task
            return true
        }
        defer { if owns { self.lock.withLock { self.state.scopeTask = nil } } }
        guard owns else { return try await body() }
        return try await withTaskCancellationHandler {
            try await body()
        } onCancel: {
            self.cancelWaitingConsumer()
        }
    }

    /// Parks the consumer's `continuation` for the next element, the end, or its
    /// cancellation; resumes it at once when one of them is already there. Inlinable, as
    /// `next()` is: the generic entry point looked up `LoopContinuation<Element?>`'s metadata
    /// (a hash lookup, 4 % of an echo server's user time) before it branched to its
    /// specialization.
    @inlinable
    func park(_ continuation: LoopContinuation<Element?>) {
        self.lock.lock()
        // Something may have arrived (or ended) since `takeBuffered`.
        if let element = self.state.buffer.popFirst() {
            self.lock.unlock()
            continuation.resume(returning: element)
        } else if let end = self.state.end {
            self.lock.unlock()
            continuation.resume(with: end.map { nil })
        } else if self.state.cancelledBeforeWaiting {
            // Its cancellation handler ran before it could park (and found no waiter).
            self.lock.unlock()
            self.cancel(CancellationError())
            self.consumerCancelled()
            continuation.resume(throwing: CancellationError())
        } else {
            self.state.waiter = continuation
            self.lock.unlock()
        }
    }

    /// The consumer's task was cancelled: a consumer waiting now gets `CancellationError`
    /// and the stream ends. One not waiting yet finds out when it parks (see `park`).
    @usableFromInline
    func cancelWaitingConsumer() {
        let waiting: Bool = self.lock.withLock {
            guard self.state.waiter != nil else {
                self.state.cancelledBeforeWaiting = true
                return false
            }
            return true
        }
        guard waiting else { return }
        self.cancel(CancellationError())
        self.consumerCancelled()
    }

    /// The current task's address: unique among live tasks, and the scope's task lives
    /// until its scope ends (which clears it).
    @usableFromInline
    static func currentTaskAddress() -> UInt? {
        // SAFETY: `UnsafeCurrentTask` is one reference to the task; its bits are read as an
        // address for comparison only and never turned back into a reference.
        withUnsafeCurrentTask { task in task.map { unsafeBitCast($0, to: UInt.self) } }
    }

    /// A buffered element, without waiting; nil when there is none or the stream ended.
    ///
    /// - Parameter coveredByScope: set, when nothing is buffered, to whether the calling task
    ///   is the one inside `withConsumerScope`, whose cancellation handler covers its wait: it
    ///   then needs no handler of its own (adding and removing one per wait took the task's
    ///   status-record lock twice per message; measured, an eighth of an echo task's time).
    @inlinable
    func takeBuffered(coveredByScope: inout Bool) throws -> Element? {
        self.lock.lock()
        guard let element = self.state.buffer.popFirst() else {
            let end = self.state.end
            let scopeTask = self.state.scopeTask
            self.lock.unlock()
            if case .failure(let error) = end { throw error }
            coveredByScope = scopeTask != nil && scopeTask == Self.currentTaskAddress()
            return nil
        }
        let resume = self.state.producerPaused && self.state.buffer.count <= self.lowWatermark
        if resume { self.state.producerPaused = false }
        self.lock.unlock()
        if resume { self.resumeProducer() }
        return element
    }
}
