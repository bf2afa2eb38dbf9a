/// Closes a channel that has read nothing for `timeout`, reporting
/// `ChannelError.readTimeout` through `errorCaught` first (so an async channel's inbound
/// sequence, or a request/response handler's callers, fail with that error).
///
/// Loop-confined (a handler). Transparent to the pipeline's type check; put it first. The
/// clock is the loop's, so an `EmbeddedEventLoop`'s manual time drives it in tests.
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandlers(ReadTimeoutHandler(timeout: .seconds(30)), MyCodec())
/// ```
public final class ReadTimeoutHandler: ChannelInboundHandler {
    public typealias InboundIn = Any
    public typealias InboundOut = Any

    public let timeout: TimeAmount
    private var lastRead = Deadline.distantPast
    private var timer: Scheduled<Void>?
    private var running = false

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.start(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.stop()
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.stop()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.lastRead = context.eventLoop.now
        context.fireChannelRead(data)
    }

    private func start(context: ChannelHandlerContext) {
        guard !self.running else { return }
        self.running = true
        self.lastRead = context.eventLoop.now
        self.schedule(at: self.lastRead + self.timeout, context: context)
    }

    private func stop() {
        self.running = false
        self.timer?.cancel()
        self.timer = nil
    }

    private func schedule(at deadline: Deadline, context: ChannelHandlerContext) {
        let transfer = UnsafeTransfer((self, context))  // SAFETY: the timer runs on this channel's loop
        self.timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = transfer.value
            handler.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        guard self.running else { return }
        let now = context.eventLoop.now
        guard now - self.lastRead >= self.timeout else {
            self.schedule(at: self.lastRead + self.timeout, context: context)
            return
        }
        self.stop()
        context.fireErrorCaught(ChannelError(.readTimeout, "nothing was read for \(self.timeout)"))
        context.close(promise: nil)
    }
}
