import Channels
import NIOCore
import NIOPosix

/// This library's echo server on its async API: a task per connection, preferring the
/// connection's loop (`AsyncServer.serve`), reading the inbound sequence and writing with the
/// outbound writer.
struct ChannelsAsyncEchoServer: EchoServer {
    let group: Channels.EventLoopGroup
    let server: AsyncServer<Channels.ByteBuffer, Channels.ByteBuffer>
    let serving: Task<Void, any Error>

    /// One acceptor handing connections to the loops round robin, as SwiftNIO's does.
    static func start(loops: Int) async throws -> ChannelsAsyncEchoServer {
        let group = try Channels.EventLoopGroup(loopCount: loops)
        let server = try await Channels.ServerBootstrap(group: group)
            .acceptStrategy(.singleAcceptor)
            .bind(host: "127.0.0.1", port: 0, inbound: Channels.ByteBuffer.self, outbound: Channels.ByteBuffer.self)
        let serving = Task {
            try await server.serve { connection in
                for try await bytes in connection.inbound { try await connection.outbound.write(bytes) }
            }
        }
        return ChannelsAsyncEchoServer(group: group, server: server, serving: serving)
    }

    var port: Int { self.server.localAddress.port }

    func stop() async throws {
        try await self.server.close()
        self.serving.cancel()
        try await self.group.shutdownGracefully()
    }
}

/// The same server with SwiftNIO 2.101's async API: `NIOAsyncChannel` and `executeThenClose`,
/// a child task per connection, as NIO's documentation shows it.
struct NIOAsyncEchoServer: EchoServer {
    let group: MultiThreadedEventLoopGroup
    let channel: any NIOCore.Channel
    let serving: Task<Void, any Error>

    static func start(loops: Int) async throws -> NIOAsyncEchoServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
        let server = try await NIOPosix.ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<NIOCore.ByteBuffer, NIOCore.ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let channel = server.channel
        let serving = Task {
            try await withThrowingDiscardingTaskGroup { tasks in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        tasks.addTask {
                            try? await connection.executeThenClose { inbound, outbound in
                                for try await bytes in inbound { try await outbound.write(bytes) }
                            }
                        }
                    }
                }
            }
        }
        return NIOAsyncEchoServer(group: group, channel: channel, serving: serving)
    }

    var port: Int { self.channel.localAddress?.port ?? 0 }

    func stop() async throws {
        try? await self.channel.close()
        self.serving.cancel()
        try await self.group.shutdownGracefully()
    }
}
