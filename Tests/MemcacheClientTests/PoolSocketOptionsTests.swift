import Channels
import Codecs
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

@Suite("Pool socket options")
struct PoolSocketOptionsTests {
    @Test("MemcachePool sets the configuration's socket options on its connections")
    func memcacheConnections() async throws {
        let server = try await EmbeddedServerFixture()
        let group = try EventLoopGroup(loopCount: 1)
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: server.port, maxConnections: 1)
        waitPatiently(&configuration)
        configuration.pool.socketOptions.keepAlive = TCPKeepAlive(idle: .seconds(45), interval: .seconds(4), count: 5)
        configuration.pool.socketOptions.userTimeout = .seconds(12)
        let pool = MemcachePool(configuration: configuration, group: group)
        let channel = try await pool.connections.withConnection { connection in connection.channel }
        #expect(
            try await channel.getOption(.tcpKeepAlive).get()
                == TCPKeepAlive(idle: .seconds(45), interval: .seconds(4), count: 5))
        #expect(try await channel.getOption(.tcpUserTimeout).get() == .seconds(12))
        await pool.shutdown()
        try await group.shutdownGracefully()
        try await server.stop()
    }
}
