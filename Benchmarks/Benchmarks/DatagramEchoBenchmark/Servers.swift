import Channels
import NIOCore
import NIOPosix

import let Glibc.SO_REUSEPORT

/// This library's UDP echo: write each datagram back, flush once per read burst (sendmmsg).
final class ChannelsDatagramEcho: Channels.ChannelInboundHandler {
    typealias InboundIn = Channels.AddressedEnvelope<Channels.ByteBuffer>

    func channelRead(context: Channels.ChannelHandlerContext, data: PipelineMessage) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: Channels.ChannelHandlerContext) {
        context.flush()
    }
}

struct ChannelsDatagramEchoServer: DatagramEchoServer {
    let group: Channels.EventLoopGroup
    let sockets: [any Channels.Channel]

    static func start(loops: Int) async throws -> ChannelsDatagramEchoServer {
        let group = try Channels.EventLoopGroup(loopCount: loops)
        let sockets = try await Channels.DatagramBootstrap(group: group)
            .channelOption(Channels.ChannelOption.receiveBufferSize, value: 1 << 20)
            .channelInitializer { try $0.pipeline.syncOperations.addHandler(ChannelsDatagramEcho()) }
            .bindOnEveryLoop(host: "127.0.0.1", port: 0)
        return ChannelsDatagramEchoServer(group: group, sockets: sockets)
    }

    var port: Int { self.sockets[0].localAddress?.port ?? 0 }

    func stop() async throws {
        for socket in self.sockets { try await socket.close().get() }
        try await self.group.shutdownGracefully()
    }
}

/// The same echo written with SwiftNIO 2.101.
final class NIODatagramEcho: NIOCore.ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOCore.AddressedEnvelope<NIOCore.ByteBuffer>
    typealias OutboundOut = NIOCore.AddressedEnvelope<NIOCore.ByteBuffer>

    func channelRead(context: NIOCore.ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: NIOCore.ChannelHandlerContext) {
        context.flush()
    }
}

/// SwiftNIO's datagram server, one SO_REUSEPORT socket per loop; `vectorReads` turns on
/// its recvmmsg reads (`datagramVectorReadMessageCount`, off by default).
struct NIODatagramSockets {
    let group: MultiThreadedEventLoopGroup
    let channels: [any NIOCore.Channel]

    static func start(loops: Int, vectorReads: Int?) async throws -> NIODatagramSockets {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
        var channels: [any NIOCore.Channel] = []
        var port = 0
        for loop in group.makeIterator() {
            var bootstrap = NIOPosix.DatagramBootstrap(group: loop)
                .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .channelOption(ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: 1 << 20)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIODatagramEcho())
                    }
                }
            if let vectorReads {
                bootstrap = bootstrap.channelOption(ChannelOptions.datagramVectorReadMessageCount, value: vectorReads)
            }
            let channel = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
            port = channel.localAddress?.port ?? 0
            channels.append(channel)
        }
        return NIODatagramSockets(group: group, channels: channels)
    }

    var port: Int { self.channels.first?.localAddress?.port ?? 0 }

    func stop() async throws {
        for channel in self.channels { try await channel.close() }
        try await self.group.shutdownGracefully()
    }
}

struct NIODatagramEchoServer: DatagramEchoServer {
    let sockets: NIODatagramSockets
    static func start(loops: Int) async throws -> NIODatagramEchoServer {
        NIODatagramEchoServer(sockets: try await .start(loops: loops, vectorReads: nil))
    }
    var port: Int { self.sockets.port }
    func stop() async throws { try await self.sockets.stop() }
}

struct NIOVectorDatagramEchoServer: DatagramEchoServer {
    let sockets: NIODatagramSockets
    static func start(loops: Int) async throws -> NIOVectorDatagramEchoServer {
        NIOVectorDatagramEchoServer(sockets: try await .start(loops: loops, vectorReads: 16))
    }
    var port: Int { self.sockets.port }
    func stop() async throws { try await self.sockets.stop() }
}
