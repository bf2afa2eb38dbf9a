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
    @Flag(
        help:
            "Serve with the async API: a task per connection on its loop, reading an AsyncSequence and writing with an async writer (the default is a pipeline handler)."
    )
    var async = false

    func validate() throws {
        try OptionBounds.check(self.port, "--port", in: OptionBounds.port)
        try OptionBounds.check(self.loops, "--loops", in: OptionBounds.loops)
    }

    func run() async throws {
        let group = try EventLoopGroup(loopCount: self.loops)
        if self.async {
            let server = try await AsyncEcho.bind(group: group, host: self.host, port: self.port)
            print("echo server (async) on \(server.localAddress) with \(self.loops) loops")
            try await AsyncEcho.serve(server)
            return
        }
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(Echo()) }
            .bind(host: self.host, port: self.port)
        print("echo server on \(server.localAddress) with \(self.loops) loops")
        try await server.listeners[0].closeFuture.get()
    }
}

/// The echo server written with the async API: each connection is served by a task that
/// prefers the connection's loop, so its reads, its writes and this code run on one thread.
enum AsyncEcho {
    static func bind(group: EventLoopGroup, host: String, port: Int) async throws -> AsyncServer<ByteBuffer, ByteBuffer>
    {
        try await ServerBootstrap(group: group)
            .bind(host: host, port: port, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
    }

    /// Echoes every connection until the server is closed.
    static func serve(_ server: AsyncServer<ByteBuffer, ByteBuffer>) async throws {
        try await server.serve { connection in
            for try await bytes in connection.inbound {
                try await connection.outbound.write(bytes)
            }
        }
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
