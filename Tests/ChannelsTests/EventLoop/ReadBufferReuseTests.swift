import TestSupport
import Testing

@testable import Channels

@Suite("Read buffers reused across a loop's turns")
struct ReadBufferReuseTests {
    @Test(
        "a read buffer the pipeline holds until a task of the same turn lets it go is reused by the next read: 50 one-message reads take at most 2 buffers from malloc (dropped at the read, they took 50)"
    )
    func heldUntilTheTurnEnds() async throws {
        let serverGroup = try EventLoopGroup(loopCount: 1)
        let clientGroup = try EventLoopGroup(loopCount: 1)
        let server = try await ServerBootstrap(group: serverGroup)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(HoldingReplier())
            }
            .bind(host: "127.0.0.1", port: 0)
        let conversation = try await LineConversation.open(to: server.localAddress, group: clientGroup)
        for round in 0..<50 {
            #expect(try await conversation.send("\(round)\r\n") == "ok\r\n")
        }
        let loop = serverGroup.loops[0]
        let allocated = try await loop.submit { loop.readBuffersAllocated }.get()
        #expect(allocated <= 2)
        await conversation.close()
        try await server.close()
        try await clientGroup.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }
}

/// Keeps each read's buffer (as a decoder keeps a value it hands on) until a task it queues
/// on the loop runs, in the same turn; answers every read with a buffer of its own.
private final class HoldingReplier: ChannelInboundHandler, @unchecked Sendable { // SAFETY: loop-confined
    typealias InboundIn = ByteBuffer
    // SAFETY: read and written on the channel's loop only (its events and its own task).
    private var held: ByteBuffer?

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.held = self.unwrapInboundIn(data)
        context.writeAndFlush(PipelineMessage(ByteBuffer(string: "ok\r\n")), promise: nil)
        context.eventLoop.execute { self.held = nil }
    }
}
