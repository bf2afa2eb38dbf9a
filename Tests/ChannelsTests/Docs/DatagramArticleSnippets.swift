// swift-format-ignore-file
// (Documentation snippets keep their hand layout: DocumentationSnippetTests compares them
// with the Datagrams article line for line.)
// snippet: datagram-echo-handler
import Channels

/// Sends every datagram back where it came from; one `sendmmsg` per read burst.
final class DatagramEcho: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.write(data, promise: nil)
    }
    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}
// end snippet

import Testing

@Suite("Datagrams article snippets")
struct DatagramArticleSnippets {
    @Test("a UDP echo server on every loop, and an async client connected to it")
    func echo() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        // snippet: datagram-echo-server
        let sockets = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(DatagramEcho()) }
            .bindOnEveryLoop(host: "127.0.0.1", port: 0)    // one SO_REUSEPORT socket per loop
        let port = sockets[0].localAddress!.port
        // end snippet
        // snippet: datagram-async-client
        let client = try await DatagramBootstrap(group: group).connect(
            host: "127.0.0.1", port: port,
            inbound: AddressedEnvelope<ByteBuffer>.self, outbound: ByteBuffer.self)
        let reply = try await withTaskExecutorPreference(client.eventLoop) {
            try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "ping"))
                for try await datagram in inbound { return String(buffer: datagram.data) }
                return ""
            }
        }
        // end snippet
        #expect(reply == "ping")
        for socket in sockets { try await socket.close().get() }
    }
}
