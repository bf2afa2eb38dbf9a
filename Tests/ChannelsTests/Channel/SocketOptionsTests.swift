import Channels
import TestSupport
import Testing

@Suite("Socket options")
struct SocketOptionsTests {
    static var options: SocketOptions {
        var options = SocketOptions()
        options.keepAlive = TCPKeepAlive(idle: .seconds(30), interval: .milliseconds(1500), count: 3)
        options.userTimeout = .milliseconds(2500)
        options.notSentLowWatermark = 16 * 1024
        options.lingerSeconds = 5
        options.receiveBufferSize = 64 * 1024
        options.sendBufferSize = 32 * 1024
        return options
    }

    /// Each option as the kernel reports it (`getsockopt`).
    static func expectApplied(on channel: any Channel) async throws {
        #expect(try await channel.getOption(.tcpNoDelay).get())
        #expect(try await channel.getOption(.keepAlive).get())
        // Keep-alive timings are whole seconds, rounded up.
        #expect(
            try await channel.getOption(.tcpKeepAlive).get()
                == TCPKeepAlive(idle: .seconds(30), interval: .seconds(2), count: 3))
        #expect(try await channel.getOption(.tcpUserTimeout).get() == .milliseconds(2500))
        #expect(try await channel.getOption(.tcpNotSentLowWatermark).get() == 16 * 1024)
        #expect(try await channel.getOption(.lingerSeconds).get() == 5)
        // The kernel doubles buffer sizes for its bookkeeping.
        #expect(try await channel.getOption(.receiveBufferSize).get() == 2 * 64 * 1024)
        #expect(try await channel.getOption(.sendBufferSize).get() == 2 * 32 * 1024)
    }

    @Test("options set through the client and server bootstraps read back from the kernel")
    func readBack() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await ServerBootstrap(group: group)
            .childSocketOptions(Self.options)
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let client = try await ClientBootstrap(group: group)
            .socketOptions(Self.options)
            .connect(to: server.localAddress).get()
        try await Self.expectApplied(on: client)
        var connections = server.connections.makeAsyncIterator()
        let accepted = try #require(try await connections.next())
        try await Self.expectApplied(on: accepted.channel)

        // Single options too, and the defaults when nothing was set.
        try await client.setOption(.lingerSeconds, value: -1).get()
        #expect(try await client.getOption(.lingerSeconds).get() == -1)
        try await client.setOption(.tcpUserTimeout, value: .zero).get()
        #expect(try await client.getOption(.tcpUserTimeout).get() == .zero)
        try await client.close().get()
        await #expect(throws: ChannelError.self) { try await client.getOption(.tcpKeepAlive).get() }
        try await accepted.channel.close().get()
        try await server.close()
    }

    @Test("TCP-only options are ignored on a Unix-domain socket, which has no TCP")
    func unixDomain() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let path = "/tmp/swift-channels-options-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = try await ServerBootstrap(group: group)
            .childSocketOptions(Self.options)
            .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
            .bind(unixDomainSocketPath: path)
        let client = try await ClientBootstrap(group: group)
            .socketOptions(Self.options)
            .connect(unixDomainSocketPath: path).get()
        #expect(client.isActive)
        try await client.close().get()
        try await server.close()
    }
}
