import Channels
import TestSupport
import Testing

@Suite("Bootstraps")
struct BootstrapTests {
    @Test("IPv6 loopback: server and client speak over ::1")
    func ipv6() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { try $0.pipeline.syncOperations.addHandler(EchoHandler()) }
            .bind(host: "::1", port: 0)
        #expect(server.localAddress.isIPv6)
        #expect(server.localAddress.description.hasPrefix("[::1]:"))
        let done = group.loops[0].makePromise(of: [UInt8].self)
        let client = try await ClientBootstrap(loop: group.loops[0])
            .channelInitializer { try $0.pipeline.syncOperations.addHandler(ByteCollector(expected: 3, done: done)) }
            .connect(host: "::1", port: server.localAddress.port).get()
        try await client.writeAndFlush(ByteBuffer(string: "six")).get()
        #expect(try await done.futureResult.get() == Array("six".utf8))
        #expect(client.remoteAddress?.isIPv6 == true)
        try await client.close().get()
        try await server.close()
    }

    @Test("a host name is resolved, and each address is tried in turn")
    func hostName() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)
        // "localhost" may resolve to ::1 first, where nothing listens: the next address wins.
        let client = try await ClientBootstrap(group: group).connect(host: "localhost", port: server.localAddress.port)
            .get()
        #expect(client.isActive)
        #expect(client.remoteAddress?.port == server.localAddress.port)
        try await client.close().get()
        try await server.close()
    }

    @Test("SocketAddress.resolve: localhost gives a loopback address; an unknown name is a typed error")
    func resolve() async throws {
        let addresses = try await SocketAddress.resolve(host: "localhost", port: 11211)
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { ["127.0.0.1", "::1"].contains($0.ipAddress) && $0.port == 11211 })
        let error = try await #require(throws: ChannelError.self) {
            try await SocketAddress.resolve(host: "no-such-host.invalid", port: 1)
        }
        #expect(error.code == .unresolvableHost)
    }

    @Test("an unknown host name is a typed error")
    func unknownHost() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        do {
            _ = try await ClientBootstrap(group: group).connect(host: "no-such-host.invalid", port: 1).get()
            Issue.record("connected to an invalid host")
        } catch let error as ChannelError {
            #expect(error.code == .unresolvableHost)
        }
    }

    @Test("bad addresses are refused before any socket is made")
    func badAddresses() {
        #expect(throws: ChannelError.self) { try SocketAddress(ipAddress: "300.1.1.1", port: 1) }
        #expect(throws: ChannelError.self) { try SocketAddress(ipAddress: "127.0.0.1", port: 70000) }
        #expect((try? SocketAddress(ipAddress: "10.0.0.1", port: 80))?.description == "10.0.0.1:80")
    }

    @Test("a port outside 0...65535 or a host with a NUL byte is refused on every path, never wrapped round")
    func portOutOfRangeEverywhere() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        // The resolver would take "80000" for port 14464: a numeric host with a bad port must
        // not reach it either.
        for host in ["127.0.0.1", "localhost"] {
            for port in [80000, 65536, -1] {
                let bound = try await #require(throws: ChannelError.self, "bind \(host):\(port)") {
                    try await ServerBootstrap(group: group).bind(host: host, port: port)
                }
                #expect(bound.code == .invalidAddress)
                let connected = try await #require(throws: ChannelError.self, "connect \(host):\(port)") {
                    try await ClientBootstrap(group: group).connect(host: host, port: port).get()
                }
                #expect(connected.code == .invalidAddress)
                let resolved = try await #require(throws: ChannelError.self) {
                    try await SocketAddress.resolve(host: host, port: port)
                }
                #expect(resolved.code == .invalidAddress)
                let datagrams = try await #require(throws: ChannelError.self, "UDP bind \(host):\(port)") {
                    try await DatagramBootstrap(group: group).bind(host: host, port: port)
                }
                #expect(datagrams.code == .invalidAddress)
            }
        }
        let nul = try await #require(throws: ChannelError.self) {
            try await SocketAddress.resolve(host: "localhost\u{0}.evil.example", port: 1)
        }
        #expect(nul.code == .invalidAddress)
    }

    @Test("an initializer that throws closes the channel and fails the connect")
    func throwingInitializer() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)
        await #expect(throws: ExampleError.self) {
            _ = try await ClientBootstrap(group: group)
                .channelInitializer { _ in throw ExampleError() }
                .connect(to: server.localAddress).get()
        }
        try await server.close()
    }
}
