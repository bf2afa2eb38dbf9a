public import Channels
// Public: the inlinable per-request path below keeps its requests in a `Deque`.
public import DequeModule

/// The fast path of a request/response client, for your own protocol: many callers'
/// requests pipelined on one connection, each answered in order, with the per-request cost
/// of `MemcacheClientHandler`.
///
/// Loop-confined: `send(_:completion:)` and the handler's events run on the channel's loop;
/// `send(_:)` (async) may be called from anywhere and is a direct call from a task running
/// on the loop. Put it last in the pipeline, with bytes below it (the socket or a
/// `TLSHandler`): requests come by a direct call, never as boxed pipeline messages.
///
/// How a request travels: `send` encodes it with your `MessageToByteEncoder` into the
/// turn's one reused buffer and queues its completion; when the loop's turn ends the buffer
/// is written and flushed once, so the requests of every caller of that turn leave in one
/// `writev` (one TLS record). Replies are decoded with your `ByteToMessageDecoder` straight
/// from the read buffer (a reply cut across reads is kept and completed by the next read;
/// the decoder sees its unconsumed bytes again, then the new ones, so it may remember how far
/// it scanned) and complete the oldest caller — no promise, no future, no `Any` box, no cast
/// per request. The handler is generic over your types, and its per-request path is
/// compiled, specialized for them, in your module: `send` is inlinable, and the decode loop
/// is made by the (inlinable) initializer, so `channelRead`, which the pipeline calls through a
/// protocol witness, hands the bytes to specialized code. No generic metadata is looked up
/// per request (run unspecialized, it was about nine lookups; the RESP example's client CPU
/// per request fell by a quarter).
///
/// Failures: a reply that does not decode, a reply with no request waiting, or silence for
/// `responseTimeout` while requests are outstanding fails every request in flight
/// (`RequestResponseError`: `.unexpectedResponse`, `.responseTimeout`, with the decoder's
/// error as `cause`) and closes the connection, since its byte stream can no longer be
/// trusted to line up; a connection that closes fails them with
/// `.channelClosedBeforeResponse`. A request that cannot be encoded fails alone and sends
/// nothing. An async caller that is cancelled is resumed at once with `CancellationError`;
/// its reply is read and dropped when it comes, so the connection stays usable.
///
/// ```swift
/// let handler = PipelinedClientHandler(encoder: RESPEncoder(), decoder: RESPDecoder())
/// try channel.pipeline.syncOperations.addHandler(handler)            // on the channel's loop
/// let reply = try await handler.send(["GET", "greeting"])            // from any task
/// ```
public final class PipelinedClientHandler<Encoder: MessageToByteEncoder, Decoder: ByteToMessageDecoder>:
    ChannelDuplexHandler,
    @unchecked Sendable // SAFETY: loop-confined state, below
where Encoder: SendableMetatype, Decoder: SendableMetatype, Encoder.Message: Sendable, Decoder.Message: Sendable {
    // SAFETY: every field is touched only on the channel's loop; `send(_:)` hops there first
    // when called elsewhere. Sendable so that a connection object holding it can be shared.
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Never
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer
    public typealias Request = Encoder.Message
    public typealias Response = Decoder.Message
    /// Receives a request's outcome, on the loop.
    public typealias Completion = (Result<Response, any Error>) -> Void

    @usableFromInline
    struct Outstanding {
        @usableFromInline let id: UInt64
        /// nil once its caller gave up (cancelled): the reply is read and dropped.
        @usableFromInline var completion: Completion?

        @inlinable init(id: UInt64, completion: Completion?) {
            self.id = id
            self.completion = completion
        }
    }

    // The per-request path (`send(_:completion:)`, `enqueue`, `decodeAll`) is `@inlinable`
    // over these fields so that it is compiled, specialized, in the module that names the
    // encoder and decoder: unspecialized, it looked up generic type metadata about nine
    // times per request (a uprobe on `swift_getGenericMetadata`, the RESP example).
    @usableFromInline var encoder: Encoder
    @usableFromInline var decoder: Decoder
    @usableFromInline package var responseClock: ResponseClock
    package var responseTimer: Scheduled<Void>?
    @usableFromInline var context: ChannelHandlerContext?
    @usableFromInline var failure: RequestResponseError?
    @usableFromInline var outstanding = Deque<Outstanding>()
    @usableFromInline var nextID: UInt64 = 0
    /// The requests of this turn, encoded back to back; written when the turn ends.
    @usableFromInline var batch = RequestBatch()
    /// Reply bytes on their way to the decoder (a reply cut across reads waits here).
    private var replies = ReplyBuffer()
    /// `decodeAll`, made by `init` where the encoder and decoder types are known, so that
    /// `channelRead` (which the pipeline calls through a protocol witness, unspecialized)
    /// decodes with specialized code.
    @usableFromInline let decodeReplies: (PipelinedClientHandler, inout ByteBuffer, ChannelHandlerContext) -> Void

    /// - Parameters:
    ///   - encoder: turns a request into bytes (appending to the turn's buffer).
    ///   - decoder: turns reply bytes into responses, one per request, in order.
    ///   - responseTimeout: how long the server may stay silent while requests are
    ///     outstanding (default 30 s; nil waits forever). One timer per connection, re-armed
    ///     lazily: no timer per request.
    @inlinable
    public init(encoder: Encoder, decoder: Decoder, responseTimeout: TimeAmount? = .seconds(30)) {
        self.encoder = encoder
        self.decoder = decoder
        self.responseClock = ResponseClock(timeout: responseTimeout)
        self.decodeReplies = { handler, buffer, context in handler.decodeAll(&buffer, context: context) }
    }

    /// Whether no request waits for its reply: a pool checks it (in
    /// `PoolableConnection.isReusable`) before giving the connection to the next caller.
    public var isClean: Bool { self.outstanding.isEmpty }
    /// How many requests wait for their replies (cancelled callers' included).
    public var outstandingCount: Int { self.outstanding.count }

    // MARK: Sending

    /// Sends `request`; `completion` runs once, on the loop, with its reply or the failure.
    /// Loop only.
    @inlinable
    public func send(_ request: Request, completion: @escaping Completion) {
        self.context?.eventLoop.assertInEventLoop()
        _ = self.enqueue(request, completion: completion)
    }

    /// Sends `request` and waits for its reply. From a task running on the channel's loop
    /// (`withTaskExecutorPreference(channel.eventLoop)`) this is a direct call and the reply
    /// resumes the task on the loop; from elsewhere it hops to the loop and back.
    ///
    /// - Throws: `RequestResponseError`, the encoder's error, or `CancellationError`.
    @inlinable
    public func send(_ request: Request) async throws -> Response {
        guard let loop = self.joinedLoop.withLock({ $0 }) else {
            throw Self.notInPipeline
        }
        try Task.checkCancellation()
        let sent = SentRequest(handler: self, loop: loop)
        // A cancellation record instead of `withTaskCancellationHandler`, whose closure made
        // the caller switch executors on the way in and out.
        let record = TaskCancellationRecord(notifying: sent)
        defer { record.remove() }
        return try await withLoopContinuation { (continuation: LoopContinuation<Response>) in
            if loop.inEventLoop {
                sent.id = self.enqueue(request) { continuation.resume(with: $0) }
            } else {
                loop.execute {
                    sent.id = self.enqueue(request) { continuation.resume(with: $0) }
                }
            }
        }
    }

    /// One request of `send`, as its task's cancellation target.
    ///
    /// SAFETY: `id` is written on the loop, then read on the loop by the cancellation task
    /// queued after it (the loop runs its tasks in order), so never by two threads at once.
    @usableFromInline
    final class SentRequest: TaskCancellationTarget, @unchecked Sendable { // SAFETY: see above
        @usableFromInline let handler: PipelinedClientHandler
        @usableFromInline let loop: any EventLoop
        /// The request's id once queued (nil before, or when it failed at once).
        @usableFromInline var id: UInt64?

        @usableFromInline
        init(handler: PipelinedClientHandler, loop: any EventLoop) {
            self.handler = handler
            self.loop = loop
        }

        @usableFromInline
        func taskWasCancelled() {
            // Queued after the enqueue (the loop runs its tasks in order).
            self.loop.execute {
                if let id = self.id { self.handler.abandon(id) }
            }
        }
    }

    /// Encodes `request` into the turn's batch and queues `completion`. Loop only.
    ///
    /// - Returns: the request's id (nil when it failed at once).
    @inlinable
    func enqueue(_ request: Request, completion: @escaping Completion) -> UInt64? {
        guard let context = self.context, self.failure == nil else {
            completion(.failure(self.failure ?? Self.notInPipeline))
            return nil
        }
        if self.batch.open() { context.flushAtEndOfTurn() }
        let mark = self.batch.buffer.writerIndex
        do {
            try self.encoder.encode(request, into: &self.batch.buffer)
        } catch {
            // Nothing of a request that cannot be encoded is sent.
            self.batch.buffer.moveWriterIndex(to: mark)
            completion(.failure(error))
            return nil
        }
        if self.outstanding.isEmpty { self.startClock(context: context) }
        self.nextID &+= 1
        self.outstanding.append(Outstanding(id: self.nextID, completion: completion))
        return self.nextID
    }

    /// `startResponseClock`, for the inlinable `enqueue` (once per batch, not per request).
    @usableFromInline
    func startClock(context: ChannelHandlerContext) {
        self.startResponseClock(context: context)
    }

    /// A cancelled caller: resumed now, its reply dropped when it comes. Loop only.
    private func abandon(_ id: UInt64) {
        guard let index = self.outstanding.lastIndex(where: { $0.id == id }),
            let completion = self.outstanding[index].completion
        else { return }
        self.outstanding[index].completion = nil
        completion(.failure(CancellationError()))
    }

    public func turnWillEnd(context: ChannelHandlerContext) {
        guard let bytes = self.batch.close() else { return }
        context.write(PipelineMessage(bytes), promise: nil)
    }

    // MARK: Replies

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        guard let incoming = data.buffer, self.failure == nil else { return }
        if self.responseClock.timeout != nil { self.responseClock.heard(now: context.eventLoop.now) }
        var bytes = self.replies.take(incoming)
        self.decodeReplies(self, &bytes, context)
        if self.failure == nil { self.replies.keep(&bytes) }
    }

    @inlinable
    func decodeAll(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        do {
            while self.failure == nil, let response = try self.decoder.decode(buffer: &buffer) {
                guard let first = self.outstanding.popFirst() else {
                    self.fail(
                        RequestResponseError(.unexpectedResponse, "a reply arrived with no request waiting"),
                        context: context)
                    return
                }
                first.completion?(.success(response))
            }
        } catch {
            self.fail(
                RequestResponseError(.unexpectedResponse, "the server's reply cannot be decoded", cause: error),
                context: context)
        }
    }

    // MARK: Failures and lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.joinedLoop.withLock { $0 = context.eventLoop }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.stopResponseClock()
        self.context = nil
        self.failPending(RequestResponseError(.channelClosedBeforeResponse, "the handler was removed"))
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.fireErrorCaught(error)
        self.fail(
            RequestResponseError(.channelClosedBeforeResponse, "the connection failed", cause: error), context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.stopResponseClock()
        self.failPending(RequestResponseError(.channelClosedBeforeResponse, "the connection closed"))
        context.fireChannelInactive()
    }

    /// Fails everything in flight and closes the connection.
    @usableFromInline
    func fail(_ error: RequestResponseError, context: ChannelHandlerContext) {
        guard self.failure == nil else { return }
        self.failPending(error)
        context.close(promise: nil)
    }

    private func failPending(_ error: RequestResponseError) {
        if self.failure == nil { self.failure = error }
        self.replies.reset()
        let outstanding = self.outstanding
        self.outstanding.removeAll()
        for entry in outstanding { entry.completion?(.failure(error)) }
    }

    /// The loop, set when the handler joins a pipeline and kept past `handlerRemoved` (so a
    /// late async caller gets its error on the loop). Locked: `send(_:)` reads it from any
    /// thread, where every other field is the loop's alone.
    @usableFromInline let joinedLoop = LockedValue<(any EventLoop)?>(nil)

    @usableFromInline
    static var notInPipeline: RequestResponseError {
        RequestResponseError(.channelClosedBeforeResponse, "the handler is not in a pipeline")
    }

    // MARK: Response timeout

    // MARK: ResponseTimedHandler

    package var responseTimerContext: ChannelHandlerContext? { self.context }
    package var isAwaitingResponse: Bool { self.failure == nil && !self.outstanding.isEmpty }

    package func responseTimedOut(after timeout: TimeAmount, context: ChannelHandlerContext) {
        self.fail(RequestResponseError(.responseTimeout, "no reply within \(timeout)"), context: context)
    }
}

extension PipelinedClientHandler: ResponseTimedHandler {}
