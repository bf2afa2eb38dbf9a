import Channels
import Codecs

// The Swift blocks of the Codecs DocC articles (DocumentationSnippetTests checks they are
// these lines). They name fixed ports, as a user's code would: compiled, not run.

/// A line handler for the framing snippet: takes one line (without its end) per read.
final class MyLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {}
}

enum CodecsArticleSnippets {
    static func memcacheConnection() async throws {
        // snippet: codecs-memcache-connection
        let group = try EventLoopGroup(loopCount: 2)
        let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: 11211, group: group)
        try await memcache.set("greeting", to: ByteBuffer(string: "hello"), ttl: 60)
        let value = try await memcache.get("greeting")                 // ByteBuffer("hello"), or nil on a miss
        let counter = try await memcache.increment("visits", by: 1)     // nil when the key is absent
        let found = try await memcache.getMany(["a", "b", "c"])         // one round trip
        try await memcache.close()
        // end snippet
        _ = (value, counter, found)
    }

    static func lineServer(group: EventLoopGroup) async throws {
        // snippet: codecs-line-server
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandlers(
                    ByteToMessageHandler(LineFrameDecoder(maximumLength: 4096)),  // whole lines, at most 4 KiB
                    MyLineHandler())                                             // InboundIn = ByteBuffer: one line
            }
            .bind(host: "127.0.0.1", port: 7000)
        // end snippet
        try await server.close()
    }
}
