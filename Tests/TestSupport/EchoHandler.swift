public import Channels

/// Writes every read back to the peer, flushing once per read burst.
///
/// Loop-confined, like every handler.
public final class EchoHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Never

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.write(data, promise: nil)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

/// Starts an echo server on 127.0.0.1 with a free port.
public func startEchoServer(
    group: EventLoopGroup,
    strategy: ServerBootstrap.AcceptStrategy = .listenerPerLoop,
    extraHandlers: @escaping @Sendable () -> [any ChannelHandler] = { [] }
) async throws -> ListeningServer {
    try await ServerBootstrap(group: group)
        .acceptStrategy(strategy)
        .childChannelInitializer { channel in
            try channel.pipeline.syncOperations.addHandlers(extraHandlers() + [EchoHandler()])
        }
        .bind(host: "127.0.0.1", port: 0)
}
