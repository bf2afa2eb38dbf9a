/// Handles events travelling from the socket towards the application: reads, activity,
/// writability, user events, errors.
///
/// Loop-confined. Each default implementation forwards the event to the next handler, so a
/// handler implements only what it cares about. `InboundIn` is the type it reads;
/// `InboundOut` the type it passes on (`Never`: nothing). The pipeline checks that these
/// types fit the neighbours when the handler is added; `Any` on both sides makes a handler
/// transparent to that check.
///
/// ```swift
/// final class Uppercase: ChannelInboundHandler {
///     typealias InboundIn = ByteBuffer
///     typealias InboundOut = String
///     func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
///         var bytes = self.unwrapInboundIn(data)
///         context.fireChannelRead(self.wrapInboundOut(bytes.readString().uppercased()))
///     }
/// }
/// ```
public protocol ChannelInboundHandler: ChannelHandler {
    associatedtype InboundIn
    associatedtype InboundOut = Never

    func channelActive(context: ChannelHandlerContext)
    func channelInactive(context: ChannelHandlerContext)
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage)
    func channelReadComplete(context: ChannelHandlerContext)
    func channelWritabilityChanged(context: ChannelHandlerContext)
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any)
    func errorCaught(context: ChannelHandlerContext, error: any Error)
}

extension ChannelInboundHandler {
    public func channelActive(context: ChannelHandlerContext) { context.fireChannelActive() }
    public func channelInactive(context: ChannelHandlerContext) { context.fireChannelInactive() }
    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) { context.fireChannelRead(data) }
    public func channelReadComplete(context: ChannelHandlerContext) { context.fireChannelReadComplete() }
    public func channelWritabilityChanged(context: ChannelHandlerContext) { context.fireChannelWritabilityChanged() }
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
    }
    public func errorCaught(context: ChannelHandlerContext, error: any Error) { context.fireErrorCaught(error) }

    /// The message as this handler's input type. The pipeline delivers only messages of
    /// that type (it checks before calling `channelRead`).
    @inlinable
    public func unwrapInboundIn(_ data: PipelineMessage) -> InboundIn {
        guard let value = data.unwrap(as: InboundIn.self) else {
            // SAFETY: unreachable: ChannelHandlerContext checks the type before delivery.
            fatalError("pipeline delivered \(data.typeDescription) to a handler of \(InboundIn.self)")
        }
        return value
    }

    @inlinable
    public func wrapInboundOut(_ value: InboundOut) -> PipelineMessage {
        PipelineMessage(value)
    }
}
