// snippet: channels-shout-back
import Channels

/// Upper-cases each read and writes it back.
final class ShoutBack: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        var bytes = self.unwrapInboundIn(data)
        context.writeAndFlush(PipelineMessage(ByteBuffer(string: bytes.readString().uppercased())), promise: nil)
    }
}
// end snippet

import Testing
import TestSupport

// The Swift blocks of the Channels DocC articles (DocumentationSnippetTests checks they are
// these lines), run where they can be.
@Suite("Channels article snippets")
struct ChannelsArticleSnippets {
    @Test("getting started: a server and a client on one group")
    func gettingStarted() async throws {
        // snippet: channels-server-and-client
        let group = try EventLoopGroup(loopCount: 2)          // two epoll threads
        let server = try await ServerBootstrap(group: group)  // one SO_REUSEPORT listener per loop
            .childChannelInitializer { try $0.pipeline.syncOperations.addHandler(ShoutBack()) }
            .bind(host: "127.0.0.1", port: 0)

        let client = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        try await client.writeAndFlush(ByteBuffer(string: "hello")).get()   // the server answers "HELLO"

        try await client.close().get()
        try await server.close()
        try await group.shutdownGracefully()
        // end snippet
    }

    @Test("threading model: async code that prefers a loop resumes on it")
    func executorPreference() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await startEchoServer(group: group)
        let channel = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        let buffer = ByteBuffer(string: "x")
        // snippet: channels-executor-preference
        let loop = group.next()
        try await withTaskExecutorPreference(loop) {
            try await channel.writeAndFlush(buffer).get()   // resumes on `loop`'s thread
        }
        // end snippet
        try await channel.close().get()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
