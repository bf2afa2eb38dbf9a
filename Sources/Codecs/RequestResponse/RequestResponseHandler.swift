public import Channels
import DequeModule

/// How many responses a request gets.
public enum ResponseExpectation: Sendable {
    /// None (a fire-and-forget request): its promise completes once it is written.
    case none
    /// Exactly one.
    case one
    /// Any number of partial responses, then a terminating one (see `isTerminator`).
    case untilTerminator
}

/// A request travelling through `RequestResponseHandler`, with where its response goes.
public struct CorrelatedRequest<Request: Sendable, Response: Sendable>: Sendable {
    public var request: Request
    public var promise: EventLoopPromise<Response>?
    public var expectation: ResponseExpectation
    /// For `.untilTerminator`: receives each response before the terminating one (on the loop).
    public var onPartial: (@Sendable (Response) -> Void)?
    /// Receives the outcome on the loop, like `promise` but without a future: the cheaper
    /// choice for a caller that is on the loop already (or resumes a continuation).
    public var onResponse: (@Sendable (Result<Response, any Error>) -> Void)?

    public init(
        _ request: Request,
        promise: EventLoopPromise<Response>?,
        expectation: ResponseExpectation = .one,
        onPartial: (@Sendable (Response) -> Void)? = nil,
        onResponse: (@Sendable (Result<Response, any Error>) -> Void)? = nil
    ) {
        self.request = request
        self.promise = promise
        self.expectation = expectation
        self.onPartial = onPartial
        self.onResponse = onResponse
    }

    /// Completes the promise and calls `onResponse` (on the loop).
    func complete(_ result: Result<Response, any Error>) {
        self.promise?.completeWith(result)
        self.onResponse?(result)
    }
}

/// Pairs responses with requests in order, so many requests can be in flight on one
/// connection (pipelining), and fails every outstanding request when the connection dies.
///
/// Loop-confined. Write `CorrelatedRequest`s into the pipeline; the handler passes the bare
/// request on and completes its promise with the matching response. A response with no
/// request waiting, or a decoding error, fails every outstanding request and closes the
/// channel; so does the channel closing. Flushes are coalesced per loop turn. `isClean`
/// tells whether nothing is outstanding (a pool checks it before reusing the connection).
///
/// ```swift
/// let handler = RequestResponseHandler<MemcacheRequest, MemcacheResponse>()
/// let promise = channel.eventLoop.makePromise(of: MemcacheResponse.self)
/// channel.writeAndFlush(CorrelatedRequest(.version, promise: promise))
/// ```
// SAFETY: loop-confined (whenFailure runs on the loop)
public final class RequestResponseHandler<Request: Sendable, Response: Sendable>: ChannelDuplexHandler,
    @unchecked Sendable // SAFETY: loop-confined, above
{
    public typealias InboundIn = Response
    public typealias InboundOut = Never
    public typealias OutboundIn = CorrelatedRequest<Request, Response>
    public typealias OutboundOut = Request

    private var outstanding = Deque<(id: UInt64, request: CorrelatedRequest<Request, Response>)>()
    private var nextID: UInt64 = 0
    /// The request being written right now (an encoding failure reported meanwhile is its).
    private var writing: UInt64?
    private let isTerminator: (Response) -> Bool
    private var closed = false
    private var context: ChannelHandlerContext?
    package var responseClock: ResponseClock
    package var responseTimer: Scheduled<Void>?

    /// - Parameters:
    ///   - isTerminator: for `.untilTerminator` requests, which response ends them.
    ///   - responseTimeout: how long the server may stay silent while requests are
    ///     outstanding; past it every outstanding request fails with `.responseTimeout` and
    ///     the connection closes (its byte stream can no longer be trusted to line up).
    ///     One timer per connection, re-armed lazily: no timer per request.
    public init(isTerminator: @escaping (Response) -> Bool = { _ in true }, responseTimeout: TimeAmount? = nil) {
        self.isTerminator = isTerminator
        self.responseClock = ResponseClock(timeout: responseTimeout)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// Flushes are coalesced: every flush of a loop turn becomes one flush when the turn ends
    /// (`flushAtEndOfTurn`), so requests issued together (by many callers, or a burst from
    /// one) leave in one write instead of one system call each, still in the turn they were
    /// made.
    public func flush(context: ChannelHandlerContext) {
        context.flushAtEndOfTurn()
    }

    /// Whether no request is waiting for a response.
    public var isClean: Bool { self.outstanding.isEmpty }
    /// How many requests wait for a response.
    public var outstandingCount: Int { self.outstanding.count }

    public func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        let correlated = self.unwrapOutboundIn(data)
        guard !self.closed else {
            let error = RequestResponseError(.channelClosedBeforeResponse, "the connection is closed")
            correlated.complete(.failure(error))
            promise?.fail(error)
            return
        }
        switch correlated.expectation {
        case .none:
            // No response will come: the sender learns of success from the write promise, and
            // the request's own completion hears only of a failure. A promise of our own is
            // made only when the request has a completion to tell.
            guard correlated.promise != nil || correlated.onResponse != nil else {
                context.write(self.wrapOutboundOut(correlated.request), promise: promise)
                return
            }
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { result in
                promise?.completeWith(result)
                if case .failure(let error) = result { correlated.complete(.failure(error)) }
            }
            context.write(self.wrapOutboundOut(correlated.request), promise: written)
        case .one, .untilTerminator:
            self.nextID &+= 1
            let id = self.nextID
            if self.outstanding.isEmpty { self.startResponseClock(context: context) }
            self.outstanding.append((id, correlated))
            // A request that cannot be encoded never reaches the wire and gets no response:
            // the encoder reports it (`MessageEncodingFailure`) while this write is under way,
            // and it leaves the queue, or the next response would be matched to it.
            self.writing = id
            context.write(self.wrapOutboundOut(correlated.request), promise: promise)
            self.writing = nil
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let failure = event as? MessageEncodingFailure, let id = self.writing,
            let index = self.outstanding.lastIndex(where: { $0.id == id })
        {
            let entry = self.outstanding.remove(at: index)
            entry.request.complete(.failure(failure.error))
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let response = self.unwrapInboundIn(data)
        guard let first = self.outstanding.first?.request else {
            self.failAll(
                RequestResponseError(.unexpectedResponse, "a response arrived with no request waiting"),
                context: context)
            return
        }
        if case .untilTerminator = first.expectation, !self.isTerminator(response) {
            first.onPartial?(response)
            return
        }
        self.outstanding.removeFirst()
        if !self.outstanding.isEmpty { self.responseClock.heard(now: context.eventLoop.now) }
        first.complete(.success(response))
    }

    // MARK: ResponseTimedHandler

    package var responseTimerContext: ChannelHandlerContext? { self.context }
    package var isAwaitingResponse: Bool { !self.closed && !self.outstanding.isEmpty }

    package func responseTimedOut(after timeout: TimeAmount, context: ChannelHandlerContext) {
        self.failAll(RequestResponseError(.responseTimeout, "no response within \(timeout)"), context: context)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Passed on first: closing tears the pipeline down behind us.
        context.fireErrorCaught(error)
        self.failAll(
            RequestResponseError(.channelClosedBeforeResponse, "the connection failed", cause: error), context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.stopResponseClock()
        self.closed = true
        self.failPending(RequestResponseError(.channelClosedBeforeResponse, "the connection closed"))
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.stopResponseClock()
        self.context = nil
        self.failPending(RequestResponseError(.channelClosedBeforeResponse, "the correlator was removed"))
    }

    private func failAll(_ error: RequestResponseError, context: ChannelHandlerContext) {
        self.closed = true
        self.failPending(error)
        context.close(promise: nil)
    }

    private func failPending(_ error: any Error) {
        let pending = self.outstanding
        self.outstanding.removeAll()
        for entry in pending { entry.request.complete(.failure(error)) }
    }
}

extension RequestResponseHandler: ResponseTimedHandler {}
