import Channels
import TestSupport
import Testing

@testable import MemcacheClient

/// Connections that die while idle, against real servers: one a network drops silently (a
/// partition in a namespace of the test's own, no FIN, no reset) and one the server closes
/// itself (memcached's `idle_timeout`). Callers must not be the ones to find out.
@Suite(
    "Keep-alive against real servers",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct KeepAliveTests {
    @Test(
        "a path that silently drops packets while the pool is idle: pings find the dead connection and close it; after the heal the next caller succeeds",
        .enabled(if: NetworkNamespace.unavailableReason == nil, "\(NetworkNamespace.unavailableReason ?? "")"))
    func silentDrop() async throws {
        let binary = try #require(MemcachedServer.binary)
        let group = try EventLoopGroup(loopCount: 1)
        try await NetworkNamespace.with { namespace in
            let memcached = try namespace.spawn(
                binary, ["-l", namespace.innerAddress, "-p", "11211", "-U", "0", "-t", "1", "-u", "root"])
            defer { memcached.kill() }
            var configuration = MemcachePool.Configuration(host: namespace.innerAddress, port: 11211, maxConnections: 1)
            waitPatiently(&configuration)
            configuration.pool.keepAlive = .init(interval: .milliseconds(200), timeout: .milliseconds(300))
            let pool = MemcachePool(configuration: configuration, group: group)
            let up = try await poll(every: .milliseconds(50)) {
                (try? await pool.set("alive", to: ByteBuffer(string: "yes"))) != nil
            }
            try #require(up, "memcached answers inside the namespace")
            #expect(try await poll { await pool.statistics().total.idle == 1 })

            // Every packet dropped, both ways: the idle connection is dead but nothing says so.
            try await namespace.partition()
            #expect(try await poll { await pool.statistics().total.closedBy[.keepAliveFailed, default: 0] >= 1 })
            #expect(await pool.statistics().total.open == 0)

            try await namespace.clear()
            // No caller met the dead connection: the next one connects afresh, no error.
            #expect(try await pool.get("alive") == ByteBuffer(string: "yes"))
            let statistics = await pool.statistics().total
            #expect(statistics.created == 2)
            #expect(statistics.closedBy[.lost, default: 0] == 0)
            await pool.shutdown()
        }
        try await group.shutdownGracefully()
    }

    @Test("memcached closing idle connections (idle_timeout) costs callers nothing: 0 errors over several rounds")
    func serverIdleTimeout() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let memcached = try await MemcachedServer(arguments: ["-o", "idle_timeout=1"], group: group)
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: memcached.port, maxConnections: 4)
        waitPatiently(&configuration)
        let pool = MemcachePool(configuration: configuration, group: group)
        // The values are stored once; each round reads them through the pool. (A store is never
        // sent twice, so a store that meets a connection the server closed a moment before fails:
        // under a sanitizer a stalled process can make the pool hear of the close late.)
        // Under a sanitizer a stall longer than the idle timeout can close a connection under a
        // store (which is never resent); the test is about the readers, so the stores retry.
        for caller in 0..<20 {
            for attempt in 1...5 {
                do {
                    try await pool.set(MemcacheKey("c\(caller)"), to: ByteBuffer(string: "\(caller)"))
                    break
                } catch let error as MemcacheError where error.code == .connectionClosed && attempt < 5 {}
            }
        }
        var errors = 0
        for _ in 0..<2 {
            await withTaskGroup(of: Bool.self) { callers in
                for caller in 0..<20 {
                    callers.addTask {
                        do {
                            let key = try MemcacheKey("c\(caller)")
                            return try await pool.get(key) == ByteBuffer(string: "\(caller)")
                        } catch {
                            return false
                        }
                    }
                }
                for await ok in callers where !ok { errors += 1 }
            }
            // Idle until the server has closed every connection of this round.
            let created = await pool.statistics().total.created
            #expect(try await poll { await pool.statistics().total.closed >= created })
        }
        #expect(errors == 0)
        #expect(await pool.statistics().total.closedBy[.lost, default: 0] >= 2, "the server closed them")
        await pool.shutdown()
        memcached.stop()
        try await group.shutdownGracefully()
    }
}
