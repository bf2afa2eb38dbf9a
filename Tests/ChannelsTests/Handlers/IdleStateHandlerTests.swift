import Channels
import Testing

/// Keeps the user events that reach it.
final class IdleEventRecorder: ChannelInboundHandler {
    typealias InboundIn = Any
    typealias InboundOut = Any
    var events: [IdleStateEvent] = []
    var errors: [any Error] = []
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateEvent { self.events.append(idle) }
        context.fireUserInboundEventTriggered(event)
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
    }
}

@Suite("Idle state and read timeout handlers")
struct IdleStateHandlerTests {
    @Test("read, write and all idleness fire after their timeouts of silence, and activity postpones them")
    func idleEvents() throws {
        let loop = EmbeddedEventLoop()
        let recorder = IdleEventRecorder()
        let channel = try EmbeddedChannel(
            handlers: [
                IdleStateHandler(readTimeout: .seconds(10), writeTimeout: .seconds(4), allTimeout: .seconds(15)),
                recorder,
            ],
            loop: loop)
        loop.advanceTime(by: .seconds(3))
        #expect(recorder.events.isEmpty)
        try channel.writeOutbound(ByteBuffer(string: "w")) // at 3 s: the write timer now ends at 7 s
        loop.advanceTime(by: .seconds(3)) // 6 s
        #expect(recorder.events.isEmpty)
        loop.advanceTime(by: .seconds(1)) // 7 s
        #expect(recorder.events == [.write])
        try channel.writeInbound(ByteBuffer(string: "r")) // at 7 s: read idle moves to 17 s
        loop.advanceTime(by: .seconds(4)) // 11 s: write idle again (4 s after 7 s)
        #expect(recorder.events == [.write, .write])
        loop.advanceTime(by: .seconds(11)) // 22 s: all at 22 (7 + 15), read at 17
        #expect(recorder.events.filter { $0 == .read }.count == 1)
        #expect(recorder.events.filter { $0 == .all }.count == 1)
        #expect(recorder.events.filter { $0 == .write }.count == 4) // 7, 11, 15, 19; 23 is next
        _ = try channel.readInbound(as: ByteBuffer.self)
        _ = try channel.readOutbound(as: ByteBuffer.self)
        #expect(try channel.finish().isClean)
        // Closed: no timer fires any more.
        loop.advanceTime(by: .seconds(60))
        #expect(recorder.events.count == 6)
    }

    @Test("a read timeout fails the pipeline with ChannelError.readTimeout and closes the channel; reads keep it open")
    func readTimeout() throws {
        let loop = EmbeddedEventLoop()
        let recorder = IdleEventRecorder()
        let channel = try EmbeddedChannel(handlers: [ReadTimeoutHandler(timeout: .seconds(5)), recorder], loop: loop)
        for _ in 0..<4 {
            loop.advanceTime(by: .seconds(4))
            try channel.writeInbound(ByteBuffer(string: "tick"))
            _ = try channel.readInbound(as: ByteBuffer.self)
        }
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(5))
        #expect(!channel.isActive)
        let error = try #require(recorder.errors.first as? ChannelError)
        #expect(error.code == .readTimeout)
        #expect(recorder.errors.count == 1)
        #expect(try channel.finish().isClean)
    }
}
