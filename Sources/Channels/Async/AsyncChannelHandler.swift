/// The last handler of an async channel's pipeline: hands what it reads to the inbound
/// stream and writes what the outbound writer gives it.
///
/// Loop-confined (a handler). The state the async side shares lives in its
/// `AsyncChannelBridge`.
final class AsyncChannelHandler<Inbound: Sendable, Outbound: Sendable>: ChannelDuplexHandler {
    typealias InboundIn = Inbound
    typealias InboundOut = Never
    typealias OutboundIn = Outbound
    typealias OutboundOut = Outbound

    let bridge: AsyncChannelBridge<Inbound, Outbound>
    /// The channel's loop, when it is a `SelectableEventLoop` (not an embedded one).
    private var loop: SelectableEventLoop?
    /// The consumer's task, resumed by a read of the current burst: it runs at the burst's
    /// end, and what it wrote is flushed then (see `channelReadComplete`).
    private var resumedConsumer: UnownedJob?
    private var channelID: ObjectIdentifier?

    init(bridge: AsyncChannelBridge<Inbound, Outbound>) {
        self.bridge = bridge
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.loop = context.eventLoop as? SelectableEventLoop
        self.channelID = ObjectIdentifier(context.channel)
        self.bridge.attach(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.bridge.detach(error: nil)
        self.releaseResumedConsumer()
    }

    @_specialize(where Inbound == ByteBuffer, Outbound == ByteBuffer)
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let message = self.unwrapInboundIn(data)
        var pause = false
        // Only within the channel's own read from its socket, whose end is certain to come
        // (`channelReadComplete`, or the channel closed); not for a read another handler
        // fires at some other time (a timer, a task), which no read-complete may follow.
        if self.resumedConsumer == nil, let loop = self.loop, let id = self.channelID, loop.channelInReadBurst == id {
            self.resumedConsumer = loop.capturingResumedJob { pause = self.bridge.inbound.push(message) }
        } else {
            pause = self.bridge.inbound.push(message)
        }
        if pause {
            // Over the high watermark: stop reading until the consumer catches up.
            context.pipeline.core.setAutoRead0(false)
        }
    }

    /// The consumer runs now, with the whole burst buffered, and its replies leave at once:
    /// the shape of a handler that writes in `channelRead` and flushes here. Left to the end
    /// of the loop's turn, the replies waited for every other channel's reads, and the read
    /// buffer they hold could not be reused by the next read (measured: 0.4–0.6 allocations
    /// per echoed message, against 0.016 for the handler server).
    @_specialize(where Inbound == ByteBuffer, Outbound == ByteBuffer)
    func channelReadComplete(context: ChannelHandlerContext) {
        if let job = self.resumedConsumer, let loop = self.loop {
            self.resumedConsumer = nil
            // What the consumer writes now is flushed right after: it need not ask for a
            // flush at the end of the turn too.
            self.bridge.flushFollowsConsumer = true
            loop.runResumedJob(job)
            self.bridge.flushFollowsConsumer = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.bridge.detach(error: nil)
        self.releaseResumedConsumer()
        context.fireChannelInactive()
    }

    /// A resumed consumer not run at a burst's end (the channel closed first) runs later in
    /// the turn, as any resumed task: it must never be dropped.
    private func releaseResumedConsumer() {
        guard let job = self.resumedConsumer, let loop = self.loop else { return }
        self.resumedConsumer = nil
        loop.enqueueResumedJob(job)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.bridge.writabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent {
            switch event {
            case .inputClosed: self.bridge.inbound.finish()
            case .outputClosed: self.bridge.outputClosed()
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // The writer's messages wait for the end of the loop's turn to be flushed; a close
        // in the same turn would fail them. What was written before a close is sent first.
        if mode != .input { context.flush() }
        context.close(mode: mode, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket's own errors (an ICMP report, a refused datagram) leave it as
        // good as before, and datagrams may be lost anyway: the stream goes on.
        if context.channel is DatagramChannel, error is IOError {
            context.fireErrorCaught(error)
            return
        }
        // The stream ends with the error (after what was read before it), and the channel
        // closes: a pipeline error leaves the connection in an unknown state.
        self.bridge.detach(error: error)
        self.releaseResumedConsumer()
        context.close(promise: nil)
    }
}

/// What an async channel's inbound stream, outbound writer and loop-side handler share.
///
/// Thread-safe: `inbound` and the writability gate are locked; `context`,
/// `flushFollowsConsumer` and the loop's copy of the gate are loop-confined (set by the
/// handler on the loop, read by `write0`, `isWritableOnLoop` and `resumeReading`'s loop task,
/// which run only on the loop).
final class AsyncChannelBridge<Inbound: Sendable, Outbound: Sendable>: @unchecked Sendable { // SAFETY: see above
    private struct Waiter {
        let id: UInt64
        /// Resumed with false: something changed, check again.
        let continuation: LoopContinuation<Bool>
    }

    private struct Gate {
        var writable = true
        /// Set when the writer can no longer write: the channel closed, or its output did.
        var closedError: ChannelError?
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        /// Messages written from off the loop that have not reached it yet.
        var inFlight = 0
    }

    let loop: any EventLoop
    let inbound: AsyncMessageQueue<Inbound>
    private let gate = LockedValue(Gate())
    // SAFETY: loop-confined, see the type comment.
    private var context: ChannelHandlerContext?
    /// Set by the handler while the consumer runs at the end of a read burst, which the
    /// handler flushes right after. Loop-confined.
    var flushFollowsConsumer = false
    /// The gate's `writable` and `closedError` as the loop last set them, for a writer on
    /// the loop to read without the lock (they change only on the loop). Loop-confined.
    private var writableOnLoop = true
    private var closedErrorOnLoop: ChannelError?

    init(loop: any EventLoop, highWatermark: Int, lowWatermark: Int) {
        self.loop = loop
        // The closures run on the consumer's thread and only hop to the loop; `weak` so the
        // queue does not keep the bridge (and so the pipeline) alive.
        let resume = WeakBox<AsyncChannelBridge>()
        self.inbound = AsyncMessageQueue(
            highWatermark: highWatermark,
            lowWatermark: lowWatermark,
            resumeProducer: { resume.value?.resumeReading() },
            consumerCancelled: { resume.value?.consumerCancelled() })
        resume.value = self
    }

    // MARK: Loop side

    func attach(_ context: ChannelHandlerContext) {
        self.context = context
    }

    /// The channel (or the handler) is gone: the stream ends after what it buffered, the
    /// writer fails from now on and its waiters wake with that error.
    func detach(error: (any Error)?) {
        self.context = nil
        self.inbound.finish(error)
        self.failWriters(ChannelError(.ioOnClosedChannel, "the channel closed", cause: error))
    }

    func outputClosed() {
        self.failWriters(ChannelError(.outputClosed, "the channel's output was shut down"))
    }

    func writabilityChanged(_ writable: Bool) {
        self.writableOnLoop = writable
        let waiters: [Waiter] = self.gate.withLock { gate in
            gate.writable = writable
            guard writable else { return [] }
            defer { gate.waiters.removeAll() }
            return gate.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: false) }
    }

    private func failWriters(_ error: ChannelError) {
        if self.closedErrorOnLoop == nil { self.closedErrorOnLoop = error }
        let waiters: [Waiter] = self.gate.withLock { gate in
            if gate.closedError == nil { gate.closedError = error }
            defer { gate.waiters.removeAll() }
            return gate.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }

    /// Writes one message; flushed at the end of the loop's turn. Loop only.
    @_specialize(where Inbound == ByteBuffer, Outbound == ByteBuffer)
    func write0(_ value: Outbound) {
        guard let context = self.context else { return }
        context.write(PipelineMessage(value), promise: nil)
        if !self.flushFollowsConsumer { context.flushAtEndOfTurn() }
    }

    /// Writes several messages with one flush. Loop only.
    func write0<Messages: Sequence>(contentsOf values: Messages) where Messages.Element == Outbound {
        guard let context = self.context else { return }
        for value in values { context.write(PipelineMessage(value), promise: nil) }
        if !self.flushFollowsConsumer { context.flushAtEndOfTurn() }
    }

    // MARK: Async side

    /// How many messages written from off the loop may be on their way to it at once. The
    /// loop updates writability only when it has taken a message, so without this bound a
    /// writer on another thread could queue any number of messages before the first one
    /// makes the channel unwritable.
    static var maxMessagesInFlight: Int { 16 }

    /// Returns at once while the channel is writable (and, with `reserving`, fewer than
    /// `maxMessagesInFlight` messages are on their way to the loop; one more is counted);
    /// else suspends until that holds.
    ///
    /// - Throws: `ChannelError` (`.ioOnClosedChannel`, `.outputClosed`) once the writer can
    ///   no longer write; `CancellationError` when the waiting task is cancelled.
    @_specialize(where Inbound == ByteBuffer, Outbound == ByteBuffer)
    func waitUntilWritable(reserving: Bool) async throws {
        var id: UInt64?
        while true {
            let passed: Bool = try self.gate.withLock { gate in try Self.pass(&gate, reserving: reserving) }
            if passed { return }
            let waiterID: UInt64
            if let id {
                waiterID = id
            } else {
                waiterID = self.gate.withLock { gate in
                    gate.nextWaiterID += 1
                    return gate.nextWaiterID
                }
                id = waiterID
            }
            // Woken on every change that may let it pass; it then checks again.
            let passedWhileParking = try await withTaskCancellationHandler {
                try await withLoopContinuation { (continuation: LoopContinuation<Bool>) in
                    let outcome: Result<Bool, any Error>? = self.gate.withLock { gate in
                        do {
                            if try Self.pass(&gate, reserving: reserving) { return .success(true) }
                        } catch {
                            return .failure(error)
                        }
                        if Task.isCancelled { return .failure(CancellationError()) }
                        gate.waiters.append(Waiter(id: waiterID, continuation: continuation))
                        return nil
                    }
                    if let outcome { continuation.resume(with: outcome) }
                }
            } onCancel: {
                let cancelled = self.gate.withLock { gate in
                    gate.waiters.firstIndex { $0.id == waiterID }.map { gate.waiters.remove(at: $0).continuation }
                }
                cancelled?.resume(throwing: CancellationError())
            }
            if passedWhileParking { return }
        }
    }

    /// Whether a write may go now, without waiting (and, with `reserving`, counts it as on
    /// its way to the loop, as `waitUntilWritable` does).
    ///
    /// - Throws: `ChannelError` once the writer can no longer write.
    func passWritabilityGate(reserving: Bool) throws(ChannelError) -> Bool {
        try self.gate.withLock { gate throws(ChannelError) in try Self.pass(&gate, reserving: reserving) }
    }

    /// Whether a writer on the loop may write now (it never reserves): the gate without its
    /// lock. Loop only.
    ///
    /// - Throws: `ChannelError` once the writer can no longer write.
    func isWritableOnLoop() throws(ChannelError) -> Bool {
        if let error = self.closedErrorOnLoop { throw error }
        return self.writableOnLoop
    }

    private static func pass(_ gate: inout Gate, reserving: Bool) throws(ChannelError) -> Bool {
        if let error = gate.closedError { throw error }
        guard gate.writable else { return false }
        guard reserving else { return true }
        guard gate.inFlight < Self.maxMessagesInFlight else { return false }
        gate.inFlight += 1
        return true
    }

    /// A message reserved with `waitUntilWritable(reserving: true)` reached the loop.
    func arrivedOnLoop() {
        let waiters: [Waiter] = self.gate.withLock { gate in
            gate.inFlight -= 1
            defer { gate.waiters.removeAll() }
            return gate.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: false) }
    }

    /// The error a write would meet now, if any.
    var writeError: ChannelError? { self.gate.withLock { $0.closedError } }

    private func resumeReading() {
        self.loop.executeOnLoop { [self] in self.context?.pipeline.core.setAutoRead0(true) }
    }

    private func consumerCancelled() {
        self.loop.executeOnLoop { [self] in self.context?.close(promise: nil) }
    }
}

/// A weak reference that can be filled in after the closures holding it were made.
///
/// Thread-safe: written once, before the closures that read it can run.
final class WeakBox<Object: AnyObject>: @unchecked Sendable { // SAFETY: set once in init, before it is shared
    weak var value: Object?
}
