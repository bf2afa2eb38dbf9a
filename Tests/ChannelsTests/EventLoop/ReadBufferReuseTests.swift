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

    @Test(
        "a read buffer let go of on another thread a turn or more after its read is reused: 50 one-message reads take at most 3 buffers from malloc (looked at only when the read's turn ended, they took 50)"
    )
    func heldPastTheTurn() async throws {
        let serverGroup = try EventLoopGroup(loopCount: 1)
        let clientGroup = try EventLoopGroup(loopCount: 1)
        let held = LockedValue<ByteBuffer?>(nil)
        let server = try await ServerBootstrap(group: serverGroup)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(HandingOnReplier(held: held))
            }
            .bind(host: "127.0.0.1", port: 0)
        let conversation = try await LineConversation.open(to: server.localAddress, group: clientGroup)
        let loop = serverGroup.loops[0]
        for round in 0..<50 {
            #expect(try await conversation.send("\(round)\r\n") == "ok\r\n")
            // A turn of the loop's own after the read's: the read's turn has ended, with the
            // buffer still held; this thread lets go of it only now, as a plain task would.
            try await loop.submit {}.get()
            held.withLock { $0 = nil }
        }
        let allocated = try await loop.submit { loop.readBuffersAllocated }.get()
        #expect(allocated <= 3)
        await conversation.close()
        try await server.close()
        try await clientGroup.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }

    @Test(
        "read buffers a handler keeps for good are left to it after 16 of the loop's turns: after 40 reads of kept buffers, 2 turns each, the loop looks at 16 at most"
    )
    func keptForGood() async throws {
        let serverGroup = try EventLoopGroup(loopCount: 1)
        let clientGroup = try EventLoopGroup(loopCount: 1)
        let server = try await ServerBootstrap(group: serverGroup)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(KeepingReplier())
            }
            .bind(host: "127.0.0.1", port: 0)
        let conversation = try await LineConversation.open(to: server.localAddress, group: clientGroup)
        let loop = serverGroup.loops[0]
        for round in 0..<40 {
            #expect(try await conversation.send("\(round)\r\n") == "ok\r\n")
            try await loop.submit {}.get()
        }
        let looked = try await loop.submit { loop.heldReadBufferCount }.get()
        #expect(looked <= 16)
        await conversation.close()
        try await server.close()
        try await clientGroup.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
    }
}

/// Keeps every read's buffer for good (as an application keeps values it caches) and
/// answers every read with a buffer of its own.
private final class KeepingReplier: ChannelInboundHandler, @unchecked Sendable { // SAFETY: loop-confined
    typealias InboundIn = ByteBuffer
    // SAFETY: read and written on the channel's loop only.
    private var kept: [ByteBuffer] = []

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.kept.append(self.unwrapInboundIn(data))
        context.writeAndFlush(PipelineMessage(ByteBuffer(string: "ok\r\n")), promise: nil)
    }
}

/// Hands each read's buffer on to `held` (as a decoder hands a value to a caller on another
/// thread) and answers every read with a buffer of its own.
private final class HandingOnReplier: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let held: LockedValue<ByteBuffer?>

    init(held: LockedValue<ByteBuffer?>) { self.held = held }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let buffer = self.unwrapInboundIn(data)
        self.held.withLock { $0 = buffer }
        context.writeAndFlush(PipelineMessage(ByteBuffer(string: "ok\r\n")), promise: nil)
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
