/// Both ends of a pipeline in one handler: outbound operations that leave the last handler
/// become channel calls (the head's job); inbound events no handler consumed are handed to
/// the channel (the tail's: an `EmbeddedChannel` keeps them for the test, a socket drops
/// them). The pipeline is a ring through one context of this handler, so a connection holds
/// one end context instead of two (144 bytes of every idle connection).
///
/// Thread-safe (stateless): one instance serves every pipeline.
final class PipelineEndHandler: ChannelInboundHandler, ChannelOutboundHandler, Sendable {
    typealias InboundIn = Any
    typealias OutboundIn = Any

    /// Immortal: every loop retains it per read and flush, and its count must not bounce
    /// between cores.
    static let shared = ImmortalObject.make(PipelineEndHandler())

    // MARK: Outbound: the channel

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

    // MARK: Inbound: what no handler consumed

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
