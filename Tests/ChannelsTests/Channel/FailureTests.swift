import Channels
import TestSupport
import Testing

/// Records errors and inactivity of a channel, for the failure tests.
final class ErrorRecorder: ChannelInboundHandler, @unchecked Sendable {
    // SAFETY: test handler; its state is read after the channel's closeFuture completed.
    typealias InboundIn = ByteBuffer
    var errors: [any Error] = []
    var inactive = false
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {}
    func errorCaught(context: ChannelHandlerContext, error: any Error) { self.errors.append(error) }
    func channelInactive(context: ChannelHandlerContext) { self.inactive = true }
}

@Suite("Failures from the peer and the network")
struct FailureTests {
    /// An echo round trip on a fresh connection: proves the loop still serves others.
    static func echoStillWorks(group: EventLoopGroup, server: ListeningServer) async throws {
        let done = group.loops[0].makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(loop: group.loops[0])
            .channelInitializer { try $0.pipeline.syncOperations.addHandler(ByteCollector(expected: 4, done: done)) }
            .connect(to: server.localAddress).get()
        try await channel.writeAndFlush(ByteBuffer(string: "ping")).get()
        #expect(try await done.futureResult.get() == Array("ping".utf8))
        try await channel.close().get()
    }

    @Test("connect to a closed port fails with a typed connection-refused error")
    func connectionRefused() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        // A port held bound, not a server's closed one: a freed port in the ephemeral range may
        // be given to the connect as its own local port, which then connects to itself.
        let closed = try ReservedPort()
        defer { closed.release() }
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: closed.port)
        do {
            _ = try await ClientBootstrap(group: group).connect(to: address).get()
            Issue.record("connected to a closed port")
        } catch let error as IOError {
            #expect(error.isConnectionRefused)
            #expect(error.call == "connect")
        }
    }

    @Test("a connect that gets no answer fails with ChannelError.connectTimeout")
    func connectTimeout() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let silent = SilentListener()
        defer { silent.close() }
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: silent.port)
        let bootstrap = ClientBootstrap(group: group).connectTimeout(.milliseconds(200))
        // The first connections fill the tiny backlog; after that SYNs are dropped.
        var open: [any Channel] = []
        var timedOut = false
        for _ in 0..<8 where !timedOut {
            do {
                open.append(try await bootstrap.connect(to: address).get())
            } catch let error as ChannelError {
                #expect(error.code == .connectTimeout)
                timedOut = true
            }
        }
        #expect(timedOut)
        for channel in open { try await channel.close().get() }
    }

    @Test("peer reset (SO_LINGER 0): a typed reset error on the server side, and the loop keeps serving")
    func peerReset() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let recorder = LockedValue<ErrorRecorder?>(nil)
        let accepted = group.loops[0].makePromise(of: (any Channel).self)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                let handler = ErrorRecorder()
                recorder.withLock { $0 = handler }
                try channel.pipeline.syncOperations.addHandler(handler)
                accepted.succeed(channel)
            }
            .bind(host: "127.0.0.1", port: 0)
        let client = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        let serverSide = try await accepted.futureResult.get()
        try await client.setOption(.lingerSeconds, value: 0).get()
        try await client.close().get()
        try await serverSide.closeFuture.get()
        let errors = recorder.withLock { $0?.errors ?? [] }
        #expect(errors.count == 1)
        #expect((errors.first as? IOError)?.isConnectionReset == true, "got \(errors)")
        #expect(recorder.withLock { $0?.inactive } == true)
        // The server and its loop are unharmed.
        let echo = try await startEchoServer(group: group)
        try await Self.echoStillWorks(group: group, server: echo)
        try await echo.close()
        try await server.close()
    }

    @Test("peer closes while we write: the pending write promises fail with a typed error")
    func peerClosesMidWrite() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let accepted = group.loops[0].makePromise(of: (any Channel).self)
        let server = try await ServerBootstrap(group: group)
            .acceptStrategy(.singleAcceptor)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(ErrorRecorder())
                accepted.succeed(channel)
            }
            .bind(host: "127.0.0.1", port: 0)
        // The client never reads, so the server's writes pile up in its buffers.
        let client = try await ClientBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .connect(to: server.localAddress).get()
        let serverSide = try await accepted.futureResult.get()
        let chunk = ByteBuffer(bytes: [UInt8](repeating: 7, count: 1 << 20))
        var writes: [EventLoopFuture<Void>] = []
        for _ in 0..<16 { writes.append(serverSide.writeAndFlush(chunk)) }
        try await Task.sleep(for: .milliseconds(50))
        try await client.close().get()
        var failures = 0
        for write in writes {
            do { try await write.get() } catch let error as ChannelError {
                #expect(error.code == .ioOnClosedChannel)
                failures += 1
            }
        }
        #expect(failures > 0, "some of 16 MiB cannot have reached a peer that never read")
        try await serverSide.closeFuture.get()
        await #expect(throws: ChannelError.self) { try await serverSide.writeAndFlush(chunk).get() }
        let echo = try await startEchoServer(group: group)
        try await Self.echoStillWorks(group: group, server: echo)
        try await echo.close()
        try await server.close()
    }

    @Test("group shutdown with open connections closes channels, fails pending writes and joins threads")
    func shutdownWithOpenConnections() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await startEchoServer(group: group)
        var clients: [any Channel] = []
        for _ in 0..<10 {
            clients.append(
                try await ClientBootstrap(group: group).channelOption(.autoRead, value: false).connect(
                    to: server.localAddress
                ).get())
        }
        // A write too large to finish while nobody reads the echo.
        let big = ByteBuffer(bytes: [UInt8](repeating: 1, count: 32 << 20))
        let pending = clients[0].writeAndFlush(big)
        try await group.shutdownGracefully()
        for client in clients {
            #expect(!client.isActive)
            try await client.closeFuture.get()
        }
        for listener in server.listeners { #expect(!listener.isActive) }
        await #expect(throws: ChannelError.self) { try await pending.get() }
        #expect(group.current == nil)
    }
}
