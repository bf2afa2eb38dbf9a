import TestSupport
import Testing

@testable import Channels

@Suite("Happy Eyeballs")
struct HappyEyeballsTests {
    @Test("addresses are interleaved by family, starting with the family listed first")
    func interleaving() throws {
        let v6a = try SocketAddress(ipAddress: "::1", port: 1)
        let v6b = try SocketAddress(ipAddress: "fe80::1", port: 1)
        let v4a = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        let v4b = try SocketAddress(ipAddress: "127.0.0.2", port: 1)
        let v4c = try SocketAddress(ipAddress: "127.0.0.3", port: 1)
        #expect(HappyEyeballs.interleaved([v6a, v6b, v4a, v4b, v4c]) == [v6a, v4a, v6b, v4b, v4c])
        #expect(HappyEyeballs.interleaved([v4a, v4b, v6a]) == [v4a, v6a, v4b])
        #expect(HappyEyeballs.interleaved([v4a]) == [v4a])
        #expect(HappyEyeballs.interleaved([]) == [])
    }

    @Test("when every address fails, one typed error lists each address and why")
    func allFail() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        // Ports nobody listens on: each attempt is refused at once.
        let closed = try ReservedPort()
        let first = try SocketAddress(ipAddress: "127.0.0.1", port: closed.port)
        let second = try SocketAddress(ipAddress: "127.0.0.2", port: closed.port)
        let bootstrap = ClientBootstrap(group: group).connectTimeout(testPatience).hostResolver { _, _ in
            [first, second]
        }
        let error = try await #require(throws: ChannelError.self) {
            try await bootstrap.connect(host: "two.test", port: closed.port).get()
        }
        #expect(error.code == .connectFailed)
        #expect(error.message.contains("\(first)"))
        #expect(error.message.contains("\(second)"))
        #expect(error.message.contains("refused"))
    }

    @Test(
        "a black-holed first address costs the attempt delay, not the connect timeout, and its socket is closed",
        .enabled(if: NetworkNamespace.unavailableReason == nil, "\(NetworkNamespace.unavailableReason ?? "")"))
    func blackHoledFirst() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        try await NetworkNamespace.with { namespace in
            // Every packet into the namespace is dropped: a connect there waits for SYN replies
            // that never come.
            try await namespace.partition()
            let server = try await startEchoServer(group: group)
            let port = server.localAddress.port
            let blackHoled = try SocketAddress(ipAddress: namespace.innerAddress, port: port)
            let live = try SocketAddress(ipAddress: "127.0.0.1", port: port)

            let started = ContinuousClock.now
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(120))
                .connectionAttemptDelay(.milliseconds(100))
                .hostResolver { _, _ in [blackHoled, live] }
                .connect(host: "replicas.test", port: port).get()
            let took = ContinuousClock.now - started
            #expect(channel.remoteAddress == live)
            // Far below the 120 s connect timeout (a sanitizer's stall is the only slack needed).
            #expect(took < .seconds(60))
            // The listener, our socket and the server's end: the black-holed attempt's socket
            // (same port, SYN_SENT) is gone.
            #expect(try await poll { openSocketCount(port: port) == 3 })
            try await channel.close().get()
            try await server.close()

            // Every address black-holed: the whole race ends at the connect timeout.
            let other = try SocketAddress(ipAddress: namespace.innerAddress, port: port + 1)
            let timedOut = try await #require(throws: ChannelError.self) {
                try await ClientBootstrap(group: group)
                    .connectTimeout(.milliseconds(500))
                    .connectionAttemptDelay(.milliseconds(100))
                    .hostResolver { _, _ in [blackHoled, other] }
                    .connect(host: "dark.test", port: port).get()
            }
            #expect(timedOut.code == .connectTimeout, "\(timedOut)")
            #expect(openSocketCount(port: port) == 0)
        }
    }
}
