import Channels
import TestSupport
import Testing

/// The README's "custom pipeline in 20 lines" (its handler, `ShoutBack`, is the Channels
/// article's snippet), kept compiling and working.
@Suite("README examples")
struct ReadmeExampleTests {
    @Test("the custom pipeline example answers HELLO")
    func shoutBack() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { try $0.pipeline.syncOperations.addHandler(ShoutBack()) }
            .bind(host: "127.0.0.1", port: 0)
        let done = group.loops[0].makePromise(of: [UInt8].self)
        let client = try await ClientBootstrap(loop: group.loops[0])
            .channelInitializer { try $0.pipeline.syncOperations.addHandler(ByteCollector(expected: 5, done: done)) }
            .connect(to: server.localAddress).get()
        try await client.writeAndFlush(ByteBuffer(string: "hello")).get()
        #expect(try await done.futureResult.get() == Array("HELLO".utf8))
        try await client.close().get()
        try await group.shutdownGracefully()
    }
}
