import Channels
import Testing

@Suite("Embedded channel")
struct EmbeddedChannelTests {
    @Test("outbound writes arrive at the head after a flush, typed")
    func outbound() throws {
        let channel = try EmbeddedChannel(handlers: [StringEncoder()])
        try channel.writeOutbound("hi")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "hi"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test("reading the wrong type is a typed error, and leftovers are reported by finish")
    func wrongTypeAndLeftovers() throws {
        let channel = try EmbeddedChannel(handlers: [BytesToString()])
        try channel.writeInbound(ByteBuffer(string: "x"))
        #expect(throws: PipelineError.self) { try channel.readInbound(as: Int.self) }
        try channel.writeInbound(ByteBuffer(string: "y"))
        let leftOvers = try channel.finish()
        #expect(!leftOvers.isClean)
        #expect(leftOvers.inbound.first as? String == "y")
    }

    @Test("errors that reach the tail are rethrown once")
    func errorsSurface() throws {
        let channel = try EmbeddedChannel()
        #expect(throws: ExampleError.self) {
            try channel.pipeline.syncOperations.addHandler(Thrower())
            try channel.writeInbound(ByteBuffer(string: "boom"))
        }
        #expect(try channel.finish().isClean)
    }

    @Test("a message of the wrong type from a lying handler becomes an error, not a crash")
    func lyingHandler() throws {
        let channel = try EmbeddedChannel(handlers: [Liar(), StringLength()])
        #expect(throws: PipelineError.self) { try channel.writeInbound(ByteBuffer(string: "x")) }
        #expect(try channel.finish().isClean)
    }
}

/// Fires an error for every read.
final class Thrower: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.fireErrorCaught(ExampleError())
    }
}

/// Declares String output but sends an Int.
final class Liar: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = String
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.fireChannelRead(PipelineMessage(42))
    }
}
