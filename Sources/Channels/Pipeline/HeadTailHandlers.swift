/// The pipeline's first handler: turns outbound operations into channel calls.
///
/// Loop-confined.
final class HeadHandler: ChannelOutboundHandler {
    typealias OutboundIn = Any

    func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        context.pipeline.core.write0(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        context.pipeline.core.flush0()
    }

    func read(context: ChannelHandlerContext) {
        context.pipeline.core.read0()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        context.pipeline.core.close0(mode: mode, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        context.pipeline.core.userOutboundEvent0(event, promise: promise)
    }
}

/// The pipeline's last handler: what no handler consumed ends here and is handed to the
/// channel (an `EmbeddedChannel` keeps it for the test; a socket drops it).
///
/// Loop-confined.
final class TailHandler: ChannelInboundHandler {
    typealias InboundIn = Any

    func channelActive(context: ChannelHandlerContext) {}
    func channelInactive(context: ChannelHandlerContext) {}
    func channelReadComplete(context: ChannelHandlerContext) {}
    func channelWritabilityChanged(context: ChannelHandlerContext) {}
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {}

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.pipeline.core.unhandledInbound(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.pipeline.core.unhandledError(error)
    }
}

/// What a channel implementation provides to its pipeline's head and tail.
///
/// Loop-confined: called only on the channel's loop.
protocol ChannelCore: AnyObject {
    func write0(_ data: PipelineMessage, promise: EventLoopPromise<Void>?)
    func flush0()
    func read0()
    /// Turns reading whenever data arrives on or off, as the `autoRead` option does, without
    /// the option's hop through a task (an async channel's inbound backpressure).
    func setAutoRead0(_ enabled: Bool)
    func close0(mode: CloseMode, promise: EventLoopPromise<Void>?)
    func userOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?)
    /// A message reached the tail without being consumed.
    func unhandledInbound(_ data: PipelineMessage)
    /// An error reached the tail without being handled.
    func unhandledError(_ error: any Error)
}
