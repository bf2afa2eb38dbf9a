import Channels
import Codecs
import MemcacheClient
import TestSupport
import Testing

@Suite("getMany within its limits: keys per request, requests in flight")
struct MultiGetLimitsTests {
    @Test(
        "95 keys with a cap of 10 a request, 2 in flight: 10 requests of at most 10 keys, never more than 2 unanswered")
    func cutIntoRequests() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let gate = group.loops[0].makePromise(of: Void.self)
        // Each get answers its first key's value, once the gate opens.
        let server = try await ScriptedServer.start(group: group) { _, line in
            guard line.hasPrefix("get ") else { return .ignore }
            let first = line.split(separator: " ")[1]
            return .replyAfter(gate.futureResult, "VALUE \(first) 0 1\r\nx\r\nEND\r\n")
        }
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: server.port, maxConnections: 4)
        waitPatiently(&configuration)
        configuration.multiGet = MemcacheMultiGetLimits(maximumKeys: 10, maximumInFlight: 2)
        let pool = MemcachePool(configuration: configuration, group: group)
        let keys = try (0..<95).map { try MemcacheKey("key\($0)") }
        let reading = Task { try await pool.getMany(keys) }

        let gets = { server.lines.withLock { $0.map(\.line).filter { $0.hasPrefix("get ") } } }
        #expect(try await poll { gets().count == 2 })
        // Held replies: no third request goes out meanwhile.
        try await Task.sleep(for: .milliseconds(200))
        #expect(gets().count == 2)
        gate.succeed(())
        let found = try await reading.value
        let sent = gets()
        #expect(sent.count == 10)
        #expect(sent.allSatisfy { $0.split(separator: " ").count - 1 <= 10 })
        #expect(sent.reduce(0) { $0 + $1.split(separator: " ").count - 1 } == 95)
        #expect(found.count == 10) // each request's first key
        #expect(Set(found.keys) == Set(stride(from: 0, to: 95, by: 10).map { keys[$0] }))
        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
