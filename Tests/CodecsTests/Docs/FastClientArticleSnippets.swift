// swift-format-ignore-file
// (Documentation snippets keep their hand layout, aligned comments included:
// DocumentationSnippetTests compares them with the articles line for line.)
import Channels
import Codecs
import Testing
import TestSupport

// The Swift blocks of the "A fast client for your protocol" article (DocumentationSnippetTests
// checks they are these lines), run against an echo server.

// snippet: fast-client-codec
struct LineRequestEncoder: MessageToByteEncoder {
    func encode(_ line: String, into buffer: inout ByteBuffer) throws {
        buffer.writeString(line)
        buffer.writeString("\n")
    }
}
typealias LineClient = PipelinedClientHandler<LineRequestEncoder, LineFrameDecoder>
// end snippet

@Suite("Fast client article snippets")
struct FastClientArticleSnippets {
    @Test("the line client gets its replies, async and with a completion")
    func calls() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await startEchoServer(group: group)
        let address = server.localAddress
        // snippet: fast-client-calls
        let client = LineClient(encoder: LineRequestEncoder(), decoder: LineFrameDecoder(maximumLength: 4096))
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(client) }
            .connect(to: address).get()
        // From any task; from a task that prefers the channel's loop, with no thread hop.
        let reply = try await client.send("PING")
        // On the loop, with a completion: what a pool's withConnectionOnLoop closure does.
        channel.eventLoop.execute {
            client.send("PING") { result in print(result.map { String(buffer: $0) }) }
        }
        // end snippet
        #expect(String(buffer: reply) == "PING")
        #expect(String(buffer: try await client.send("AGAIN")) == "AGAIN")
        try await channel.close().get()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
