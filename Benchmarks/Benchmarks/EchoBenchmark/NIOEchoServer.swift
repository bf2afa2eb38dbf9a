import NIOCore
import NIOPosix

/// The same echo server written with SwiftNIO 2.101.
final class NIOEcho: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOCore.ByteBuffer
    typealias OutboundOut = NIOCore.ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

struct NIOEchoServer: EchoServer {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel

    static func start(loops: Int) async throws -> NIOEchoServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(NIOEcho()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return NIOEchoServer(group: group, channel: channel)
    }

    var port: Int { self.channel.localAddress?.port ?? 0 }

    func stop() async throws {
        try await self.channel.close()
        try await self.group.shutdownGracefully()
    }
}
