import Channels
import TestSupport
import Testing

/// Reports the channel events it sees.
final class EventRecorder: ChannelInboundHandler, @unchecked Sendable {
    // SAFETY: test handler; read after the promise it completes.
    typealias InboundIn = ByteBuffer
    let inputClosed: EventLoopPromise<[UInt8]>
    var bytes: [UInt8] = []
    init(inputClosed: EventLoopPromise<[UInt8]>) { self.inputClosed = inputClosed }
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.unwrapInboundIn(data).withUnsafeReadableBytes { self.bytes.append(contentsOf: $0) }
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            self.inputClosed.succeed(self.bytes)
            // Still allowed to answer: our output is open.
            context.writeAndFlush(PipelineMessage(ByteBuffer(string: "bye")), promise: nil)
            context.close(promise: nil)
        }
    }
}

@Suite("Half-close and explicit reads")
struct HalfCloseTests {
    @Test("shutting down our output delivers inputClosed to the peer, which can still answer")
    func halfClose() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let seen = group.loops[0].makePromise(of: [UInt8].self)
        let server = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { try $0.pipeline.syncOperations.addHandler(EventRecorder(inputClosed: seen)) }
            .bind(host: "127.0.0.1", port: 0)
        let answer = group.loops[1].makePromise(of: [UInt8].self)
        let client = try await ClientBootstrap(loop: group.loops[1])
            .channelInitializer { try $0.pipeline.syncOperations.addHandler(ByteCollector(expected: 3, done: answer)) }
            .connect(to: server.localAddress).get()
        try await client.writeAndFlush(ByteBuffer(string: "last words")).get()
        try await client.close(mode: .output).get()
        await #expect(throws: ChannelError.self) { try await client.writeAndFlush(ByteBuffer(string: "x")).get() }
        #expect(try await seen.futureResult.get() == Array("last words".utf8))
        #expect(try await answer.futureResult.get() == Array("bye".utf8))
        try await client.closeFuture.get()
        try await server.close()
    }

    @Test("with autoRead off nothing is read until read() is called")
    func explicitRead() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)
        let counter = LockedValue(0)
        let client = try await ClientBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .channelInitializer { try $0.pipeline.syncOperations.addHandler(CountingReader(counter: counter)) }
            .connect(to: server.localAddress).get()
        try await client.writeAndFlush(ByteBuffer(string: "hello")).get()
        try await Task.sleep(for: .milliseconds(50))
        #expect(counter.withLock { $0 } == 0)
        #expect(try await client.getOption(.autoRead).get() == false)
        client.read()
        for _ in 0..<200 where counter.withLock({ $0 }) < 5 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(counter.withLock { $0 } == 5)
        try await client.close().get()
        try await server.close()
    }
}
