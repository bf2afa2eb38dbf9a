import Channels

/// This library's multi-loop echo server: write on read, flush once per read burst.
final class ChannelsEcho: ChannelInboundHandler {
    typealias InboundIn = Channels.ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

struct ChannelsEchoServer: EchoServer {
    let group: EventLoopGroup
    let server: ListeningServer

    /// One acceptor handing connections to the loops round robin, as SwiftNIO's
    /// ServerBootstrap does, so both servers spread the same connections the same way.
    static func start(loops: Int) async throws -> ChannelsEchoServer {
        let group = try EventLoopGroup(loopCount: loops)
        let server = try await ServerBootstrap(group: group)
            .acceptStrategy(.singleAcceptor)
            .childChannelInitializer { try $0.pipeline.syncOperations.addHandler(ChannelsEcho()) }
            .bind(host: "127.0.0.1", port: 0)
        return ChannelsEchoServer(group: group, server: server)
    }

    var port: Int { self.server.localAddress.port }

    func stop() async throws {
        try await self.server.close()
        try await self.group.shutdownGracefully()
    }
}
