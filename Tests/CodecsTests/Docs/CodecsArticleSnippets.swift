// swift-format-ignore-file
// (Documentation snippets keep their hand layout, aligned comments included:
// DocumentationSnippetTests compares them with the articles line for line.)
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
