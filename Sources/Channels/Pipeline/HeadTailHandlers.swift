/// The pipeline's first handler: turns outbound operations into channel calls.
///
/// Thread-safe (stateless): one instance serves every pipeline.
final class HeadHandler: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = Any

    /// Immortal: every loop retains it per read and flush, and its count must not bounce
    /// between cores.
    static let shared = ImmortalObject.make(HeadHandler())

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
/// Thread-safe (stateless): one instance serves every pipeline.
final class TailHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any

    /// Immortal, like `HeadHandler.shared`.
    static let shared = ImmortalObject.make(TailHandler())

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
