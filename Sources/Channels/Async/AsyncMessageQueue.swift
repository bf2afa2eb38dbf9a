import DequeModule

/// The hand-off between a channel's loop (one producer at a time) and one async consumer:
/// a buffer, the consumer's parked continuation, the end of the stream, and the watermarks
/// that tell the producer when to stop and resume reading.
///
/// Thread-safe: every field is read and written under `lock`. Continuations are resumed
/// after the lock is released (a resumed task may run inline and come straight back).
///
/// The hot methods carry `@_specialize(where Element == ByteBuffer)`, as do the async
/// channel's handler and writer: generic code is not specialized for a caller in another
/// module, and unspecialized it looked up type metadata (`Deque<Element>`,
/// `Optional<Element>`, the continuation's) several times per message.
final class AsyncMessageQueue<Element: Sendable>: @unchecked Sendable { // SAFETY: state only under `lock`
    private struct State {
        var buffer = Deque<Element>()
        var waiter: LoopContinuation<Element?>?
        /// Set once: nil while open, `.success` at a clean end, `.failure` after an error.
        var end: Result<Void, any Error>?
        /// The producer was told to stop (the buffer reached the high watermark).
        var producerPaused = false
        /// The task inside `withConsumerScope` (its address), whose cancellation that scope's
        /// one handler watches: its `next()` calls need no handler of their own.
        var scopeTask: UInt?
    }

    private let lock = Lock()
    private var state = State()
    private let highWatermark: Int
    private let lowWatermark: Int
    /// Called (off the lock, on the consumer's thread) when a paused producer may go on.
    private let resumeProducer: @Sendable () -> Void
    /// Called once when a waiting consumer's task is cancelled.
    private let consumerCancelled: @Sendable () -> Void
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
    @inline(__always)
    func next() async throws -> Element? {
        var scopeTask: UInt?
        if let ready = try self.takeBuffered(scopeTask: &scopeTask) { return ready }
        // Inside `withConsumerScope` the scope's handler covers this wait: adding and
        // removing a handler of its own per wait took the task's status-record lock twice
        // per message (measured: an eighth of an echo task's time).
        if let scopeTask, scopeTask == Self.currentTaskAddress() { return try await self.park() }
        return try await withTaskCancellationHandler {
            try await self.park()
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

    /// Waits for the next element, the end, or the consumer's cancellation.
    @inline(__always)
    private func park() async throws -> Element? {
        try await withLoopContinuation { (continuation: LoopContinuation<Element?>) in
            self.lock.lock()
            // Something may have arrived (or ended) since `takeBuffered`.
            if let element = self.state.buffer.popFirst() {
                self.lock.unlock()
                continuation.resume(returning: element)
            } else if let end = self.state.end {
                self.lock.unlock()
                continuation.resume(with: end.map { nil })
            } else if Task.isCancelled {
                // Cancelled before it could park: a cancellation handler has run already or
                // finds no waiter (both look under the lock), so end the stream here.
                self.lock.unlock()
                self.cancel(CancellationError())
                self.consumerCancelled()
                continuation.resume(throwing: CancellationError())
            } else {
                self.state.waiter = continuation
                self.lock.unlock()
            }
        }
    }

    /// The consumer's task was cancelled: a consumer waiting now gets `CancellationError`
    /// and the stream ends. One not waiting finds out at its next wait (see `park`).
    private func cancelWaitingConsumer() {
        let waiting = self.lock.withLock { self.state.waiter != nil }
        guard waiting else { return }
        self.cancel(CancellationError())
        self.consumerCancelled()
    }

    /// The current task's address: unique among live tasks, and the scope's task lives
    /// until its scope ends (which clears it).
    private static func currentTaskAddress() -> UInt? {
        // SAFETY: `UnsafeCurrentTask` is one reference to the task; its bits are read as an
        // address for comparison only and never turned back into a reference.
        withUnsafeCurrentTask { task in task.map { unsafeBitCast($0, to: UInt.self) } }
    }

    /// A buffered element, without waiting; nil when there is none or the stream ended.
    ///
    /// - Parameter scopeTask: set to the task of `withConsumerScope` when nothing is buffered.
    @_specialize(where Element == ByteBuffer)
    private func takeBuffered(scopeTask: inout UInt?) throws -> Element? {
        self.lock.lock()
        guard let element = self.state.buffer.popFirst() else {
            let end = self.state.end
            scopeTask = self.state.scopeTask
            self.lock.unlock()
            if case .failure(let error) = end { throw error }
            return nil
        }
        let resume = self.state.producerPaused && self.state.buffer.count <= self.lowWatermark
        if resume { self.state.producerPaused = false }
        self.lock.unlock()
        if resume { self.resumeProducer() }
        return element
    }
}
