// swift-format-ignore-file
// (Documentation snippets keep their hand layout, aligned comments included:
// DocumentationSnippetTests compares them with the articles line for line.)
import Channels
import Codecs
import Testing

// The Swift blocks of the Channels "Async channels" article (they frame lines with Codecs) (DocumentationSnippetTests checks they are
// these lines), run.
@Suite("Async channels article snippets")
struct AsyncArticleSnippets {
    @Test("the line echo server answers the client")
    func echo() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        // snippet: async-line-echo-server
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: 1024)))
            }
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let serving = Task {
            try await server.serve { connection in
                for try await line in connection.inbound {
                    try await connection.outbound.write(ByteBuffer(string: String(buffer: line) + "\n"))
                }
            }
        }
        // end snippet
        // snippet: async-line-client
        let connection = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: 1024)))
            }
            .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let reply = try await withTaskExecutorPreference(connection.eventLoop) {
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "hello\n"))
                for try await line in inbound { return String(buffer: line) }
                return ""
            }
        }
        // end snippet
        #expect(reply == "hello")
        try await server.close()
        try await serving.value
        try await group.shutdownGracefully()
    }
}
