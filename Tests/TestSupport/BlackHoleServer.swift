public import Channels

/// Reads and drops everything: a server that accepts connections and never answers.
final class BlackHoleHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {}
}

/// Starts a server on 127.0.0.1 (free port) that accepts and never answers.
public func startBlackHoleServer(group: EventLoopGroup) async throws -> ListeningServer {
    try await ServerBootstrap(group: group)
        .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(BlackHoleHandler()) }
        .bind(host: "127.0.0.1", port: 0)
}
