public import Channels

/// Runs a `MessageToByteEncoder` in a pipeline: each written message becomes one buffer.
///
/// Loop-confined. An encoding error fails that write's promise and nothing is sent for it.
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(LengthFieldPrepender(.four)))
/// ```
public final class MessageToByteHandler<Encoder: MessageToByteEncoder>: ChannelOutboundHandler {
    public typealias OutboundIn = Encoder.Message
    public typealias OutboundOut = ByteBuffer

    private var encoder: Encoder

    public init(_ encoder: Encoder) {
        self.encoder = encoder
    }

    public func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        var buffer = ByteBuffer()
        do {
            try self.encoder.encode(self.unwrapOutboundIn(data), into: &buffer)
        } catch {
            promise?.fail(error)
            return
        }
        context.write(self.wrapOutboundOut(buffer), promise: promise)
    }
}
