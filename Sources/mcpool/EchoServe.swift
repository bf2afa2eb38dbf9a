import ArgumentParser
import Channels

struct EchoServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-serve",
        abstract: "Run a multi-loop TCP echo server until interrupted."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 7777
    @Option(help: "Event loops (threads).") var loops = 2

    func run() async throws {
        let group = try EventLoopGroup(loopCount: self.loops)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(Echo()) }
            .bind(host: self.host, port: self.port)
        print("echo server on \(server.localAddress) with \(self.loops) loops")
        try await server.listeners[0].closeFuture.get()
    }
}

/// Writes back what it reads; flushes once per read burst.
final class Echo: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}
