import Channels
import TestSupport
import Testing

@testable import MemcacheClient

/// `MemcacheDeadline`: a caller's own budget for a call, lease wait and reply together. The
/// server is scripted because its slowness must be on the test's cue (memcached cannot be
/// told to answer late); the script holds a reply until the test opens its gate, so every
/// check here is about order, not time.
@Suite("Per-call deadlines")
struct DeadlineTests {
    static let slowReply = "VA 4\r\nslow\r\n"

    /// A server that answers `mg fast…` at once and `mg slow…` when `gate` opens.
    static func server(group: EventLoopGroup, gate: EventLoopFuture<Void>) async throws -> ScriptedServer {
        try await ScriptedServer.start(group: group) { _, line in
            if line.hasPrefix("mg slow") { return .replyAfter(gate, slowReply) }
            if line.hasPrefix("mg fast") { return .reply("VA 4\r\nfast\r\n") }
            return .reply("HD\r\n")
        }
    }

    static func pool(port: Int, group: EventLoopGroup, leasesPerConnection: Int) -> MemcachePool {
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: port, maxConnections: 1)
        configuration.pool.maxConcurrentLeasesPerConnection = leasesPerConnection
        waitPatiently(&configuration)
        return MemcachePool(configuration: configuration, group: group)
    }

    @Test(
        "a reply later than the caller's deadline: .timeout; the reply is dropped and the shared connection serves on")
    func slowReply() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let gate = group.loops[0].makePromise(of: Void.self)
        let server = try await Self.server(group: group, gate: gate.futureResult)
        let pool = Self.pool(port: server.port, group: group, leasesPerConnection: 8)
        _ = try await pool.get("fast") // connected

        let error = try await #require(throws: MemcacheError.self) {
            try await MemcacheDeadline.within(.milliseconds(50)) { try await pool.get("slow") }
        }
        #expect(error.code == .timeout)
        #expect(error.message.contains("deadline"))
        // The server still holds the reply: the caller was released by its own deadline.
        #expect(server.lines.withLock { $0.map(\.line) }.filter { $0.hasPrefix("mg slow") }.count == 1)

        gate.succeed(())
        // The late reply is read and dropped: the next reply on the same connection is the
        // next caller's own.
        #expect(try await pool.get("fast") == ByteBuffer(string: "fast"))
        let statistics = await pool.statistics()
        #expect(statistics.total.created == 1)
        #expect(statistics.total.closed == 0)
        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("the lease wait counts too: with the only connection busy, the caller's deadline ends the wait as .timeout")
    func leaseWait() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let gate = group.loops[0].makePromise(of: Void.self)
        let server = try await Self.server(group: group, gate: gate.futureResult)
        let pool = Self.pool(port: server.port, group: group, leasesPerConnection: 1)
        // Holds the one lease until the gate opens.
        let busy = Task { try await pool.get("slow") }
        #expect(try await poll { server.lines.withLock { $0.contains { $0.line.hasPrefix("mg slow") } } })

        let error = try await #require(throws: MemcacheError.self) {
            try await MemcacheDeadline.within(.milliseconds(50)) { try await pool.get("fast") }
        }
        // The caller's own timer or the lease wait's end (both at the deadline) finished it;
        // either way it never reached the server.
        #expect(error.code == .timeout)
        #expect(error.message.contains("deadline"))
        #expect(!server.lines.withLock { $0.contains { $0.line.hasPrefix("mg fast") } })

        gate.succeed(())
        #expect(try await busy.value == ByteBuffer(string: "slow"))
        #expect(try await pool.get("fast") == ByteBuffer(string: "fast"))
        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test(
        "a deadline already passed sends nothing; nested scopes keep the sooner deadline; a direct connection obeys it")
    func passedNestedAndConnection() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let gate = group.loops[0].makePromise(of: Void.self)
        let server = try await Self.server(group: group, gate: gate.futureResult)
        let pool = Self.pool(port: server.port, group: group, leasesPerConnection: 8)

        let passed = try await #require(throws: MemcacheError.self) {
            try await MemcacheDeadline.until(.now() - .seconds(1)) { try await pool.get("fast") }
        }
        #expect(passed.code == .timeout)
        #expect(server.connections == 0 || !server.lines.withLock { $0.contains { $0.line.hasPrefix("mg fast") } })

        let outer = Deadline.now() + .seconds(5)
        let inner = await MemcacheDeadline.until(outer) {
            await MemcacheDeadline.within(.seconds(500)) { MemcacheDeadline.current }
        }
        #expect(inner == outer)
        #expect(MemcacheDeadline.current == nil)

        let connection = try await MemcacheConnection.connect(host: "127.0.0.1", port: server.port, group: group)
        let direct = try await #require(throws: MemcacheError.self) {
            try await MemcacheDeadline.within(.milliseconds(50)) { try await connection.get("slow") }
        }
        #expect(direct.code == .timeout)
        gate.succeed(())
        #expect(try await connection.get("fast") == ByteBuffer(string: "fast"))
        try await connection.close()
        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("through a server set: the caller's deadline is not held against the server (no ejection)")
    func serverSetDoesNotEject() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let gate = group.loops[0].makePromise(of: Void.self)
        let server = try await Self.server(group: group, gate: gate.futureResult)
        var ejection = MemcacheEjectionPolicy()
        ejection.failureLimit = 1
        let set = MemcacheServerSet(
            servers: [(host: "127.0.0.1", port: server.port)], group: group, ejection: ejection,
            configure: waitPatiently)
        for _ in 0..<3 {
            let error = try await #require(throws: MemcacheError.self) {
                try await MemcacheDeadline.within(.milliseconds(20)) { try await set.get("slow") }
            }
            #expect(error.code == .timeout)
        }
        let statistics = await set.statistics()
        #expect(statistics.activeServers == 1)
        #expect(statistics.servers.allSatisfy { $0.failureStreak == 0 })
        gate.succeed(())
        #expect(try await set.get("fast") == ByteBuffer(string: "fast"))
        await set.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
