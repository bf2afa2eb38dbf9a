/// Handles operations travelling from the application towards the socket: writes, flushes,
/// read requests, closes.
///
/// Loop-confined. Each default implementation forwards the operation to the previous
/// handler (towards the socket). `OutboundIn` is the type it is given to write;
/// `OutboundOut` the type it writes on. The pipeline checks these against the neighbours
/// when the handler is added.
///
/// ```swift
/// final class LinePrepender: ChannelOutboundHandler {
///     typealias OutboundIn = String
///     typealias OutboundOut = ByteBuffer
///     func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
///         let line = self.unwrapOutboundIn(data) + "\n"
///         context.write(self.wrapOutboundOut(ByteBuffer(string: line)), promise: promise)
///     }
/// }
/// ```
public protocol ChannelOutboundHandler: ChannelHandler {
    associatedtype OutboundIn
    associatedtype OutboundOut = Never

    func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?)
    func flush(context: ChannelHandlerContext)
    func read(context: ChannelHandlerContext)
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?)
    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?)
}

extension ChannelOutboundHandler {
    public func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
    }
    public func flush(context: ChannelHandlerContext) { context.flush() }
    public func read(context: ChannelHandlerContext) { context.read() }
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        context.close(mode: mode, promise: promise)
    }
    public func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        context.triggerUserOutboundEvent(event, promise: promise)
    }

    /// The message as this handler's outbound input type (checked by the pipeline).
    @inlinable
    public func unwrapOutboundIn(_ data: PipelineMessage) -> OutboundIn {
        guard let value = data.unwrap(as: OutboundIn.self) else {
            // SAFETY: unreachable: ChannelHandlerContext checks the type before delivery.
            fatalError("pipeline delivered \(data.typeDescription) to a handler of \(OutboundIn.self)")
        }
        return value
    }

    @inlinable
    public func wrapOutboundOut(_ value: OutboundOut) -> PipelineMessage {
        PipelineMessage(value)
    }
}
