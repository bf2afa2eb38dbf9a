// swift-format-ignore-file
// (Documentation snippets keep their hand layout, aligned comments included:
// DocumentationSnippetTests compares them with the articles line for line.)
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

/// The application handler the TLS article's pipeline ends with.
final class YourHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {}
}

/// Article snippets that name files and hosts of the reader's: compiled, not run.
enum ChannelsArticleCompiledSnippets {
    static func tls(group: EventLoopGroup) async throws {
        // snippet: channels-tls
        // Build contexts once, off the loops, and share them: they parse keys and read files.
        let clientTLS = try TLSContext(configuration: .client(trustRoots: .file("ca.pem"), alpnProtocols: ["memcache"]))
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandlers(
                    try TLSHandler(context: clientTLS, serverHostname: "cache.example"), YourHandler())
            }
            .connect(host: "cache.example", port: 11211).get()

        let serverTLS = try TLSContext(configuration: .server(
            certificateChain: .file("chain.pem"), privateKey: .file("key.pem"), clientCertificates: .required, trustRoots: .file("ca.pem")))
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { try $0.pipeline.syncOperations.addHandlers(try TLSHandler(context: serverTLS), YourHandler()) }
            .bind(host: "127.0.0.1", port: 0)
        // end snippet
        try await client.close().get()
        try await server.close()
    }
}
