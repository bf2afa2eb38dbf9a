import Channels
import TestSupport
import Testing

/// Counts the flushes that pass it on the way to the socket.
// SAFETY: loop-confined; read after the loop is done
private final class FlushCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    var flushes = 0
    func flush(context: ChannelHandlerContext) {
        self.flushes += 1
        context.flush()
    }
}

/// Batches what it is given into one buffer, written when the turn ends.
private final class Batcher: ChannelOutboundHandler, @unchecked Sendable { // SAFETY: loop-confined
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var batch = ByteBuffer()
    private(set) var context: ChannelHandlerContext?
    var turnEnds = 0

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Loop-confined: queues `text`; it leaves when the turn ends.
    func add(_ text: String) {
        self.batch.writeString(text)
        self.context?.flushAtEndOfTurn()
    }

    func turnWillEnd(context: ChannelHandlerContext) {
        self.turnEnds += 1
        context.write(PipelineMessage(self.batch), promise: nil)
        self.batch = ByteBuffer()
    }
}

@Suite("End-of-turn flush")
struct TurnEndFlushTests {
    @Test("asked many times in one turn, the flush happens once, when the turn ends, after the handler wrote its batch")
    func oncePerTurn() throws {
        let counter = FlushCounter()
        let batcher = Batcher()
        let channel = try EmbeddedChannel(handlers: [counter, batcher])
        for word in ["a", "b", "c"] { batcher.add(word) }
        #expect(counter.flushes == 0)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        #expect(batcher.turnEnds == 1)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "abc"))
        // The next turn asks again and gets its own flush.
        batcher.add("d")
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 2)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "d"))
        #expect(try channel.finish().isClean)
    }

    @Test("a channel-level flushAtEndOfTurn sends the writes made before it, once")
    func channelLevel() throws {
        let counter = FlushCounter()
        let channel = try EmbeddedChannel(handlers: [counter])
        for _ in 0..<3 {
            _ = channel.write(ByteBuffer(string: "x"))
            channel.flushAtEndOfTurn()
        }
        #expect(counter.flushes == 0)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        var received = 0
        while try channel.readOutbound(as: ByteBuffer.self) != nil { received += 1 }
        #expect(received == 3)
        #expect(try channel.finish().isClean)
    }

    @Test("on a real loop, writes from many tasks of one turn leave in one flush and all arrive")
    func realLoop() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)
        let loop = group.next()
        let counter = FlushCounter()
        let batcher = Batcher()
        let done = loop.makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(loop: loop)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandlers(
                    counter, batcher, ByteCollector(expected: 100, done: done))
            }
            .connect(to: server.localAddress).get()
        // One task queues 100 more, all in the same turn; each adds one byte.
        try await loop.submit {
            for _ in 0..<100 { loop.execute { batcher.add("z") } }
        }.get()
        #expect(try await done.futureResult.get() == [UInt8](repeating: UInt8(ascii: "z"), count: 100))
        let flushes = try await loop.submit { counter.flushes }.get()
        #expect(flushes == 1)
        try await channel.close().get()
        try await server.close()
    }
}
