/// A handler's place in a pipeline: how it passes events on.
///
/// Loop-confined: use only on `eventLoop`. Inbound events (`fire…`) go to the next inbound
/// handler towards the application; outbound operations (`write`, `flush`, `close`…) go to
/// the previous outbound handler towards the socket. A removed handler's context still
/// forwards, so a handler can remove itself mid-event without losing what it passes on.
public final class ChannelHandlerContext {
    /// The name the handler was added with, or "<its type>-<N>" when it was given none.
    public var name: String { self.givenName ?? "\(type(of: self.handler))-\(self.ordinal)" }
    /// Kept apart and the made-up name formed only when asked: a server holds thousands of
    /// pipelines, and a string per handler was a tenth of an idle connection's memory.
    let givenName: String?
    /// The handler as each direction's events call it (cast once, here). There is no third
    /// field for the handler itself: a context is three allocations per connection, and
    /// 16 B fewer put it in malloc's 128-byte size.
    let inboundHandler: (any ChannelInboundHandler)?
    let outboundHandler: (any ChannelOutboundHandler)?
    let types: HandlerTypes
    public unowned let pipeline: ChannelPipeline
    /// The channel's loop, kept here rather than read through `pipeline`: a context can
    /// outlive its pipeline by a moment (a flush owed at the end of the turn), and the loop
    /// confinement checks must not touch a pipeline that is gone.
    public let eventLoop: any EventLoop
    var next: ChannelHandlerContext?
    var previous: ChannelHandlerContext?
    /// Whether the handler is still in the pipeline.
    public internal(set) var isRemoved = false
    /// Whether a flush from here is owed at the end of the loop's turn.
    private var turnEndFlushRequested = false
    /// 32 bits, and last beside the flags: the object then fits malloc's next smaller size
    /// (144 B rather than 160), three times per connection.
    private let ordinal: UInt32

    /// Nil when `handler` is neither inbound nor outbound: no event would reach it.
    init?(
        givenName: String?, ordinal: Int, handler: any ChannelHandler, types: HandlerTypes, pipeline: ChannelPipeline,
        eventLoop: any EventLoop
    ) {
        self.inboundHandler = handler as? any ChannelInboundHandler
        self.outboundHandler = handler as? any ChannelOutboundHandler
        guard self.inboundHandler != nil || self.outboundHandler != nil else { return nil }
        self.givenName = givenName
        self.ordinal = UInt32(clamping: ordinal)
        self.types = types
        self.pipeline = pipeline
        self.eventLoop = eventLoop
    }

    /// The handler at this place.
    public var handler: any ChannelHandler {
        if let inbound = self.inboundHandler { return inbound }
        // `init` refuses a handler that is neither inbound nor outbound; the fallback is
        // never taken.
        return self.outboundHandler ?? PipelineEndHandler.shared
    }

    /// The channel this pipeline belongs to.
    public var channel: any Channel { self.pipeline.channel }

    // The walks take the first neighbour without a loop when it handles the direction (the
    // usual case): the loop retained the neighbour twice and released it once more per hop.
    private var nextInbound: ChannelHandlerContext? {
        guard let next = self.next else { return nil }
        if next.inboundHandler != nil { return next }
        var candidate = next.next
        while let context = candidate, context.inboundHandler == nil { candidate = context.next }
        return candidate
    }

    private var previousOutbound: ChannelHandlerContext? {
        guard let previous = self.previous else { return nil }
        if previous.outboundHandler != nil { return previous }
        var candidate = previous.previous
        while let context = candidate, context.outboundHandler == nil { candidate = context.previous }
        return candidate
    }

    // MARK: Inbound

    public func fireChannelActive() {
        guard let next = self.nextInbound else { return }
        next.inboundHandler?.channelActive(context: next)
    }

    public func fireChannelInactive() {
        guard let next = self.nextInbound else { return }
        next.inboundHandler?.channelInactive(context: next)
    }

    public func fireChannelRead(_ data: PipelineMessage) {
        self.eventLoop.assertInEventLoop()
        self.nextInbound?.invokeChannelRead(data, from: self)
    }

    public func fireChannelReadComplete() {
        self.nextInbound?.invokeChannelReadComplete()
    }

    public func fireChannelWritabilityChanged() {
        guard let next = self.nextInbound else { return }
        next.inboundHandler?.channelWritabilityChanged(context: next)
    }

    public func fireUserInboundEventTriggered(_ event: Any) {
        guard let next = self.nextInbound else { return }
        next.inboundHandler?.userInboundEventTriggered(context: next, event: event)
    }

    public func fireErrorCaught(_ error: any Error) {
        guard let next = self.nextInbound else { return }
        next.inboundHandler?.errorCaught(context: next, error: error)
    }

    // MARK: Outbound

    public func write(_ data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        self.eventLoop.assertInEventLoop()
        guard let previous = self.previousOutbound else {
            promise?.fail(ChannelError(.ioOnClosedChannel, "the pipeline is torn down"))
            return
        }
        previous.invokeWrite(data, promise: promise, from: self)
    }

    /// Writes and returns a future of the write.
    public func write(_ data: PipelineMessage) -> EventLoopFuture<Void> {
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.write(data, promise: promise)
        return promise.futureResult
    }

    public func flush() {
        self.eventLoop.assertInEventLoop()
        self.previousOutbound?.invokeFlush()
    }

    /// Flushes from here once, when the loop's current turn ends, however often it is asked
    /// during the turn; just before, the handler's `turnWillEnd(context:)` runs.
    ///
    /// The way to batch: a handler that writes many messages in one turn (requests of many
    /// callers, replies to a burst of reads) asks for this instead of flushing each one, and
    /// the channel makes one gathering write per turn (a handler that encodes everything of a
    /// turn into one buffer writes that buffer in `turnWillEnd`). A turn ends after the loop has handled
    /// the readiness events, due timers and queued tasks of that pass, so a request written
    /// by a caller running on the loop leaves in the turn it was made.
    ///
    /// ```swift
    /// func send(_ request: Request, context: ChannelHandlerContext) {
    ///     context.write(self.wrapOutboundOut(encode(request)), promise: nil)
    ///     context.flushAtEndOfTurn()   // one writev for every request of this turn
    /// }
    /// ```
    public func flushAtEndOfTurn() {
        self.eventLoop.assertInEventLoop()
        guard !self.turnEndFlushRequested else { return }
        self.turnEndFlushRequested = true
        if let flushes = self.pipeline.turnEndFlushes {
            flushes.append(self)
        } else {
            let transfer = LoopBound(self, eventLoop: self.eventLoop)
            self.eventLoop.execute { transfer.value.runTurnEndFlush() }
        }
    }

    /// Runs the flush owed at the end of the turn: the handler writes what it batched, then
    /// the flush leaves from here.
    func runTurnEndFlush() {
        self.turnEndFlushRequested = false
        // Through the stored existential, not `handler`: building `any ChannelHandler` from it
        // retained and released the handler per flush.
        if let inbound = self.inboundHandler {
            inbound.turnWillEnd(context: self)
        } else {
            self.outboundHandler?.turnWillEnd(context: self)
        }
        self.flush()
    }

    public func writeAndFlush(_ data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        self.write(data, promise: promise)
        self.flush()
    }

    public func writeAndFlush(_ data: PipelineMessage) -> EventLoopFuture<Void> {
        let future = self.write(data)
        self.flush()
        return future
    }

    /// Asks for one more read (when `autoRead` is off).
    public func read() {
        guard let previous = self.previousOutbound else { return }
        previous.outboundHandler?.read(context: previous)
    }

    public func close(mode: CloseMode = .all, promise: EventLoopPromise<Void>?) {
        self.eventLoop.assertInEventLoop()
        guard let previous = self.previousOutbound, let handler = previous.outboundHandler else {
            promise?.succeed(())
            return
        }
        handler.close(context: previous, mode: mode, promise: promise)
    }

    public func close(mode: CloseMode = .all) -> EventLoopFuture<Void> {
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.close(mode: mode, promise: promise)
        return promise.futureResult
    }

    public func triggerUserOutboundEvent(_ event: Any, promise: EventLoopPromise<Void>?) {
        guard let previous = self.previousOutbound, let handler = previous.outboundHandler else {
            promise?.fail(ChannelError(.ioOnClosedChannel, "the pipeline is torn down"))
            return
        }
        handler.triggerUserOutboundEvent(context: previous, event: event, promise: promise)
    }

    // MARK: Invoking this context's handler

    // Each runs on the context that receives the event, so `self` (and the handler in its
    // `let` field) is borrowed for the call: the caller holds the context it walked to. Not
    // inlined: inlined into the walk, the handler existential was retained and released per
    // hop (uprobes, the pooled get's read and flush path).

    @inline(never)
    private func invokeChannelRead(_ data: PipelineMessage, from sender: ChannelHandlerContext) {
        guard let handler = self.inboundHandler else { return }
        if case .buffer = data.storage, self.types.inboundInIsBuffer {
            handler.channelRead(context: self, data: data)
        } else if self.types.acceptsInbound?(data) ?? true {
            handler.channelRead(context: self, data: data)
        } else {
            self.fireErrorCaught(
                PipelineError(
                    .typeMismatch,
                    "'\(sender.name)' passed \(data.typeDescription) to '\(self.name)', which reads \(self.types.inboundIn.map { "\($0)" } ?? "nothing")"
                ))
        }
    }

    @inline(never)
    private func invokeChannelReadComplete() {
        self.inboundHandler?.channelReadComplete(context: self)
    }

    @inline(never)
    private func invokeWrite(
        _ data: PipelineMessage, promise: EventLoopPromise<Void>?, from sender: ChannelHandlerContext
    ) {
        guard let handler = self.outboundHandler else {
            promise?.fail(ChannelError(.ioOnClosedChannel, "the pipeline is torn down"))
            return
        }
        if case .buffer = data.storage, self.types.outboundInIsBuffer {
            handler.write(context: self, data: data, promise: promise)
        } else if self.types.acceptsOutbound?(data) ?? true {
            handler.write(context: self, data: data, promise: promise)
        } else {
            let error = PipelineError(
                .typeMismatch,
                "'\(sender.name)' wrote \(data.typeDescription) to '\(self.name)', which takes \(self.types.outboundIn.map { "\($0)" } ?? "nothing")"
            )
            promise?.fail(error)
            sender.pipeline.fireErrorCaught(error)
        }
    }

    @inline(never)
    private func invokeFlush() {
        self.outboundHandler?.flush(context: self)
    }
}
