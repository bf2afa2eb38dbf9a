import DequeModule

/// The hand-off between a channel's loop (one producer at a time) and one async consumer:
/// a buffer, the consumer's parked continuation, the end of the stream, and the watermarks
/// that tell the producer when to stop and resume reading.
///
/// Thread-safe: every field is read and written under `lock`. Continuations are resumed
/// after the lock is released (a resumed task may run inline and come straight back).
final class AsyncMessageQueue<Element: Sendable>: @unchecked Sendable { // SAFETY: state only under `lock`
    private struct State {
        var buffer = Deque<Element>()
        var waiter: LoopContinuation<Element?>?
        /// Set once: nil while open, `.success` at a clean end, `.failure` after an error.
        var end: Result<Void, any Error>?
        /// The producer was told to stop (the buffer reached the high watermark).
        var producerPaused = false
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
    ///   task is cancelled (the stream then stays ended for good).
    func next() async throws -> Element? {
        if let ready = try self.takeBuffered() { return ready }
        return try await withTaskCancellationHandler {
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
                    self.lock.unlock()
                    continuation.resume(throwing: CancellationError())
                } else {
                    self.state.waiter = continuation
                    self.lock.unlock()
                }
            }
        } onCancel: {
            self.cancel(CancellationError())
            self.consumerCancelled()
        }
    }

    private func takeBuffered() throws -> Element? {
        self.lock.lock()
        guard let element = self.state.buffer.popFirst() else {
            let end = self.state.end
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
