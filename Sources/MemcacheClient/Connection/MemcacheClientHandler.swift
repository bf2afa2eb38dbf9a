public import Channels
import Codecs

/// The one handler of a memcache client connection: encodes requests, matches replies to
/// them in order, and completes each caller directly.
///
/// Loop-confined: every method runs on the channel's loop (`MemcacheConnection` is the
/// thread-safe front). It sits last in the pipeline, with bytes below it (the socket, or a
/// `TLSHandler`) and nothing above it: requests come by a direct call, never as boxed
/// pipeline messages.
///
/// How a request travels: `send` encodes it into the turn's one reused buffer and queues
/// its caller; when the loop's turn ends the buffer is written and flushed once (so the
/// requests of many callers leave in one `writev`, one TLS record); each reply is decoded in
/// place from the read buffer and completes the oldest caller, with no promise, no future
/// and no boxing per request. Gets that meet on a connection within one turn therefore leave
/// together as pipelined meta gets, which memcached answers in a batch.
///
/// Failures, all `MemcacheError`s: a reply that breaks the protocol fails every request in
/// flight with `.protocolViolation` and closes the channel; so does a server silent for
/// `responseTimeout` while requests are outstanding (`.timeout`); a connection that closes
/// or fails fails them with `.connectionClosed` (`.tlsFailure` for TLS), marking the requests
/// no byte of whose reply had arrived (see `MemcacheError.closedBeforeReply`). Server error
/// replies (`ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`) are ordinary replies (`.error`) for their
/// request only. A caller that is cancelled is resumed at once; its reply is read and
/// dropped later.
///
/// It shares its machinery with `PipelinedClientHandler`, the same fast path for any
/// protocol: the turn's request buffer (`RequestBatch`), the reply bytes kept across reads
/// (`ReplyBuffer`) and the response timeout (`ResponseClock`). Its completion queue is its
/// own: a memcache request may get no reply (noreply, written-then-done), one, or a run of
/// replies ended by `MN` (quiet and fenced meta batches), and a pooled request releases its
/// lease as it finishes; the generic handler's one-reply-per-request queue would have to grow
/// all of that to serve it.
///
/// ```swift
/// let handler = try MemcacheConnection.addHandlers(to: channel)   // on the channel's loop
/// handler.send(.version) { result in print(result) }               // on the loop too
/// ```
public final class MemcacheClientHandler: ChannelDuplexHandler, @unchecked Sendable { // SAFETY: below
    // SAFETY: loop-confined (see the type comment); it is Sendable only so that the
    // thread-safe `MemcacheConnection` can hold it and hop to its loop before touching it.
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Never
    public typealias OutboundIn = Never
    public typealias OutboundOut = ByteBuffer

    /// Receives a request's outcome on the loop.
    public typealias Completion = @Sendable (Result<MemcacheResponse, any Error>) -> Void

    /// Where a reply goes.
    package enum Responder {
        case call(MemcacheCall)
        case completion(Completion)

        func finish(_ result: consuming Result<MemcacheResponse, any Error>) {
            switch self {
            case .call(let call): call.finish(result)
            case .completion(let completion): completion(result)
            }
        }
    }

    /// Who gets a reply, and whether finishing the request gives a pool lease back.
    package struct Waiter {
        let responder: Responder
        let releasesLease: Bool

        /// See `MemcacheCall.prefetchForResume`; nothing for a completion.
        func prefetchForResume(withTask: Bool) {
            if case .call(let call) = self.responder { call.prefetchForResume(withTask: withTask) }
        }
    }

    // `@exclusivity(unchecked)` on the four value-typed parts the hot path mutates: each
    // access is confined to the loop and made by pure value code (decode, match, encode,
    // buffer); every callout (a responder, the lease release, a write) happens after the
    // access ended. The runtime's check cost ~4 accesses (with a thread-local lookup each)
    // per request; the debug suite ran with the checks before they were turned off.
    @exclusivity(unchecked) private var decoder: MemcacheResponseDecoder
    package var responseClock: ResponseClock
    package var responseTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Which request each reply answers, and the connection's failure once it failed.
    @exclusivity(unchecked) private var matcher = MemcacheReplyMatcher<Waiter>()
    /// The requests of this turn, encoded back to back; written when the turn ends.
    @exclusivity(unchecked) private var batch = RequestBatch()
    /// Reply bytes on their way to the decoder (a reply cut across reads waits here).
    @exclusivity(unchecked) private var replies = ReplyBuffer()

    /// Where each request sent with `releasesLease` gives its pool lease back, on the loop,
    /// once it is finished (its reply delivered, or it failed): set by
    /// `MemcachePooledConnection.bindLeaseRelease`. Read on every pooled request, only ever
    /// read or set whole: no exclusivity check.
    @exclusivity(unchecked) package var leaseReturn: PooledLeaseReturn?
    /// Whether `decodeAll` runs, and the time the leases its replies end ended, read at the
    /// first of them: one clock read per read of replies rather than one per lease.
    @exclusivity(unchecked) private var isDecoding = false
    @exclusivity(unchecked) private var decodedAt: Deadline?

    /// - Parameters:
    ///   - maximumValueLength: the largest value accepted in a reply; larger is a
    ///     `MemcacheError.valueTooLarge` that closes the connection.
    ///   - responseTimeout: how long the server may stay silent while requests are
    ///     outstanding; nil waits forever. One timer per connection, re-armed lazily.
    ///   - wireProtocol: the commands the server speaks; any other request fails with
    ///     `MemcacheError.unsupportedCommand` and is not sent.
    public init(
        maximumValueLength: Int = 64 << 20, responseTimeout: TimeAmount? = nil, wireProtocol: MemcacheProtocol = .meta
    ) {
        self.decoder = MemcacheResponseDecoder(maximumValueLength: maximumValueLength)
        self.responseClock = ResponseClock(timeout: responseTimeout)
        self.wireProtocol = wireProtocol
    }

    /// The commands the server speaks (see `MemcacheProtocol`).
    public let wireProtocol: MemcacheProtocol

    /// Whether no request waits for a reply (a pool checks it before reusing the connection).
    public var isClean: Bool { self.matcher.isClean }
    /// Whether the channel is open, as `channel.isActive` says it at every moment the handler
    /// finishes a request (see `channelIsClosing`), without a call through the channel's
    /// existential. A pool asks it when a lease comes back.
    package var isChannelOpen: Bool { !self.channelIsClosing }
    /// Set as soon as the handler can see its channel closing: at `channelInactive`, and before
    /// that when the close fails the turn's write or reports an error, either of which may
    /// finish requests (whose leases come back) before `channelInactive` arrives.
    @exclusivity(unchecked) private var channelIsClosing = false
    /// How many requests wait for a reply.
    public var outstandingCount: Int { self.matcher.waitingCount }

    // MARK: Sending

    /// Sends `request`; `completion` runs on the loop with its reply (server error replies
    /// as `.error`) or the failure.
    ///
    /// - Parameters:
    ///   - request: what to send; its key was checked when it was made.
    ///   - onPartial: for a `.metaBatch`, receives each reply the quiet mode keeps, before the
    ///     closing `MN` completes the request.
    ///   - completion: runs once, on the loop, with the reply or the failure.
    public func send(
        _ request: MemcacheRequest,
        onPartial: (@Sendable (MemcacheResponse) -> Void)? = nil,
        completion: @escaping Completion
    ) {
        self.send(request, onPartial: onPartial, releasesLease: false, responder: .completion(completion))
    }

    package func send(
        _ request: MemcacheRequest,
        onPartial: (@Sendable (MemcacheResponse) -> Void)?,
        releasesLease: Bool,
        responder: consuming Responder
    ) {
        self.send(releasesLease: releasesLease, responder: responder) { [wireProtocol] buffer in
            if wireProtocol != .meta, let refusal = wireProtocol.refusal(of: request) {
                // A proxy would close the connection on it, failing every call in flight.
                throw refusal
            }
            return try MemcacheRequestWriter.write(request, onPartial: onPartial, into: &buffer)
        }
    }

    /// Sends `get`'s request (`mg <key> v`) written straight from `key`: what `send` does
    /// with `.meta(.get(key, flags: [.returnValue]))`, without making that request.
    package func sendValueGet(_ key: MemcacheKey, releasesLease: Bool, responder: consuming Responder) {
        guard self.wireProtocol == .meta else {
            // Refused in `send`, as any meta command is on a text-only server.
            self.send(
                .meta(.get(key, flags: MemcacheMetaFlag.valueFlags)), onPartial: nil, releasesLease: releasesLease,
                responder: responder)
            return
        }
        self.send(releasesLease: releasesLease, responder: responder) { buffer in
            MemcacheRequestEncoder.writeValueGet(key, into: &buffer)
            return .one
        }
    }

    /// Encodes a request with `write` into the turn's batch and queues its waiter; a request
    /// that cannot be sent (the connection failed or is not in a pipeline, `write` throws)
    /// leaves nothing written, and its waiter is finished with the failure.
    @inline(__always)
    private func send(
        releasesLease: Bool,
        responder: consuming Responder,
        write: (inout ByteBuffer) throws -> MemcacheReplyMatcher<Waiter>.Expected?
    ) {
        self.context?.eventLoop.assertInEventLoop()
        // The waiter is made where it is used: one copy of the responder, not two. The
        // context is only checked here, not bound: binding it retained and released it per
        // request, and it is needed only once per turn and when the response clock starts.
        guard self.context != nil, self.matcher.failure == nil else {
            // Nothing of this request is written: a caller may send it again elsewhere (a
            // request can reach a connection whose close the pool has not heard of yet).
            let failure = self.matcher.failure ?? Self.notInPipeline
            self.finishUnsent(
                Waiter(responder: responder, releasesLease: releasesLease),
                MemcacheError(failure.code, failure.message, cause: failure.cause, closedBeforeReply: true))
            return
        }
        if self.batch.open() { self.context?.flushAtEndOfTurn() }
        let mark = self.batch.buffer.writerIndex
        let expected: MemcacheReplyMatcher<Waiter>.Expected?
        do {
            expected = try write(&self.batch.buffer)
        } catch {
            // Nothing of a request that cannot be encoded (or is refused) is sent.
            self.batch.buffer.moveWriterIndex(to: mark)
            self.finishUnsent(Waiter(responder: responder, releasesLease: releasesLease), error)
            return
        }
        // `consume`: handed over as is, the expectation was copied (through its type's value
        // witness: a call per request in the pooled get's profile).
        if self.matcher.expect(consume expected, for: Waiter(responder: responder, releasesLease: releasesLease)),
            let context = self.context
        {
            self.startResponseClock(context: context)
        }
    }

    public func turnWillEnd(context: ChannelHandlerContext) {
        guard let bytes = self.batch.close() else { return }
        var promise: EventLoopPromise<Void>?
        // Asked first: taking an empty list retained and released the empty array per turn.
        if self.matcher.hasUnwritten {
            let unanswered = self.matcher.written()
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { [self] result in
                // A channel fails its writes as it closes, before `channelInactive`: a lease given
                // back below must find it closing (`isChannelOpen`), as `isActive` would say.
                if case .failure = result, let context = self.context, !context.channel.isActive {
                    self.channelIsClosing = true
                }
                for waiter in unanswered { self.finish(waiter, result.map { .ok }) }
            }
            promise = written
        }
        context.write(PipelineMessage(bytes), promise: promise)
    }

    // MARK: Replies

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        guard let incoming = data.buffer, self.matcher.failure == nil else { return }
        if self.responseClock.timeout != nil { self.responseClock.heard(now: context.eventLoop.now) }
        var bytes = self.replies.take(incoming)
        self.decodeAll(&bytes, context: context)
        if self.matcher.failure == nil { self.replies.keep(&bytes) }
    }

    /// How many waiting records `decodeAll` prefetches: a read's worth of replies at the
    /// pool's default pipeline depth.
    private static let prefetchedWaiters = 16

    private func decodeAll(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        self.isDecoding = true
        // With thousands of callers waiting, each reply resumes a record and a task last
        // touched thousands of gets ago: ask for the records this read may answer now, and
        // for each next task while the one before it is resumed (`deliver`).
        self.matcher.forOldestWaiters(Self.prefetchedWaiters) { $0.prefetchForResume(withTask: false) }
        defer {
            self.isDecoding = false
            self.decodedAt = nil
        }
        do {
            while self.matcher.failure == nil, let response = try self.decoder.decode(buffer: &buffer) {
                self.deliver(consume response, context: context)
            }
        } catch let error as MemcacheError {
            self.fail(error, context: context)
        } catch {
            self.fail(
                MemcacheError(.protocolViolation, "the server's reply cannot be read", cause: error), context: context)
        }
    }

    /// Takes the reply owned and hands it on owned, down to the continuation's `resume`: with
    /// any step borrowing it, the reply was copied into the caller's `Result` (two retains
    /// and two releases per get, uprobes under `mcpool bench`).
    private func deliver(_ response: consuming MemcacheResponse, context: ChannelHandlerContext) {
        switch self.matcher.received(response) {
        case .finished(let pending):
            self.matcher.forOldestWaiters(1) { $0.prefetchForResume(withTask: true) }
            self.finish(pending.waiter, .success(consume response))
        case .finishedWith(let waiter, let reply):
            self.finish(waiter, .success(reply))
        case .partial(let onPartial, let reply):
            onPartial?(reply)
        case .held, .ignored:
            break
        case .unexpected:
            self.fail(
                MemcacheError(.protocolViolation, "a reply arrived with no request waiting: \(response)"),
                context: context)
        }
    }

    /// Fails a request `send` did not send. The handler keeps itself alive meanwhile: the pool
    /// calls `send` on a handler it holds unretained (`MemcachePool.leaseOnItsLoopIfReady`),
    /// and giving the lease back may close the connection that owns this handler.
    private func finishUnsent(_ waiter: Waiter, _ error: any Error) {
        // SAFETY: a retain released when this returns; nothing else holds `kept`.
        let kept = Unmanaged.passRetained(self)
        defer { kept.release() }
        self.finish(waiter, .failure(error))
    }

    private func finish(_ waiter: Waiter, _ result: consuming Result<MemcacheResponse, any Error>) {
        waiter.responder.finish(result)
        if waiter.releasesLease, let leaseReturn = self.leaseReturn { leaseReturn.giveBack(now: self.leaseEnd()) }
    }

    /// When a lease ends now: the time of the replies being decoded (read once for all of
    /// them), else the present.
    private func leaseEnd() -> Deadline {
        if let decodedAt = self.decodedAt { return decodedAt }
        let now = self.context?.eventLoop.now ?? .now()
        if self.isDecoding { self.decodedAt = now }
        return now
    }

    // MARK: Failures and lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.stopResponseClock()
        self.context = nil
        self.failPending(MemcacheError(.connectionClosed, "the memcache handler was removed"))
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Reported by a closing channel before `channelInactive` (see `channelIsClosing`).
        if !context.channel.isActive { self.channelIsClosing = true }
        context.fireErrorCaught(error)
        if error is TLSError {
            self.fail(MemcacheError(.tlsFailure, "TLS failed", cause: error), context: context)
        } else {
            self.fail(MemcacheError(.connectionClosed, "the connection failed", cause: error), context: context)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.channelIsClosing = true
        self.stopResponseClock()
        self.failPending(MemcacheError(.connectionClosed, "the connection closed"))
        context.fireChannelInactive()
    }

    /// Fails everything in flight with `error` and closes the connection: after a broken
    /// reply or a timeout the byte stream can no longer be trusted to line up.
    private func fail(_ error: MemcacheError, context: ChannelHandlerContext) {
        guard self.matcher.failure == nil else { return }
        self.failPending(error)
        context.close(promise: nil)
    }

    /// Fails every request in flight with `error` (see `MemcacheReplyMatcher.fail`).
    private func failPending(_ error: MemcacheError) {
        let oldestReplyPending = self.replies.hasPartialReply
        self.replies.reset()
        for (waiter, failure) in self.matcher.fail(error, oldestReplyPending: oldestReplyPending) {
            self.finish(waiter, .failure(failure))
        }
    }

    private static let notInPipeline = MemcacheError(.connectionClosed, "the memcache handler is not in a pipeline")

    // MARK: Response timeout

    // MARK: ResponseTimedHandler

    package var responseTimerContext: ChannelHandlerContext? { self.context }
    package var isAwaitingResponse: Bool { self.matcher.isAwaitingReply }

    package func responseTimedOut(after timeout: TimeAmount, context: ChannelHandlerContext) {
        self.fail(MemcacheError(.timeout, "no reply within \(timeout)"), context: context)
    }

}

extension MemcacheClientHandler: ResponseTimedHandler {}
