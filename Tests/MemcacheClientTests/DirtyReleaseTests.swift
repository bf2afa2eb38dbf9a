import Channels
import TestSupport
import Testing

@testable import MemcacheClient

@Suite("Releasing a memcache connection")
struct DirtyReleaseTests {
    @Test("a memcache connection released with a reply still outstanding is closed, not reused")
    func dirtyMemcacheRelease() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await ScriptedServer.start(group: group) { _, _ in .ignore } // never answers
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: server.port, maxConnections: 1)
        configuration.pool.maxConcurrentLeasesPerConnection = 1
        waitPatiently(&configuration)
        let pool = MemcachePool(configuration: configuration, group: group)
        let loop = group.loops[0]
        try await withTaskExecutorPreference(loop) {
            let lease = try await pool.connections.lease()
            lease.connection.memcache.sendOnLoop(.version) { _ in }
            #expect(!lease.connection.memcache.handler.isClean)
            lease.release()
        }
        #expect(try await poll { await pool.statistics().total.closed == 1 })
        let next = try await pool.connections.lease()
        #expect(next.connection.memcache.handler.isClean)
        next.release()
        #expect(await pool.statistics().total.created == 2)
        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
