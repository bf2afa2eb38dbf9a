import Channels
import Codecs
import MemcacheClient
import Pool
import TestSupport
import Testing

/// A pool of one connection at a time to `server`, with a response timeout beyond the test.
private func pool(
    _ server: ScriptedServer, group: EventLoopGroup, retry: Bool = true, responseTimeout: TimeAmount = testPatience
) -> MemcachePool {
    var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: server.port, maxConnections: 1)
    configuration.retryIdempotent = retry
    waitPatiently(&configuration)
    configuration.responseTimeout = responseTimeout
    // Reconnect at once after the scripted hang-up (no breaker pause between attempts).
    configuration.pool.backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(1))
    return MemcachePool(configuration: configuration, group: group)
}

/// The lines `server` received that start with `prefix`, with their connection numbers.
private func received(_ server: ScriptedServer, _ prefix: String) -> [Int] {
    server.lines.withLock { $0.filter { $0.line.hasPrefix(prefix) }.map(\.connection) }
}

@Suite("MemcachePool retries, exactly")
struct MemcachePoolRetryTests {
    @Test("a get whose connection closes before any byte of its reply is sent once more, on a fresh connection")
    func getRetried() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await ScriptedServer.start(group: group) { connection, line in
            guard line.hasPrefix("mg") else { return .ignore }
            return connection == 0 ? .close : .reply("VA 1\r\nx\r\n")
        }
        let memcache = pool(server, group: group)
        #expect(try await memcache.get("k") == ByteBuffer(string: "x"))
        #expect(received(server, "mg") == [0, 1])
        await memcache.shutdown()

        // Without retries the same hang-up is the caller's error.
        let unretried = try await ScriptedServer.start(group: group) { _, line in
            line.hasPrefix("mg") ? .close : .ignore
        }
        let strict = pool(unretried, group: group, retry: false)
        let error = await #expect(throws: MemcacheError.self) { try await strict.get("k") }
        #expect(error?.code == .connectionClosed)
        await strict.shutdown()
        #expect(try await unretried.allConnectionsClosed())
        #expect(received(unretried, "mg") == [0])
        try await server.close()
        try await unretried.close()
        try await group.shutdownGracefully()
    }

    @Test("garbage is a typed error and no retry; neither is a timeout")
    func garbageAndTimeoutNotRetried() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let garbage = try await ScriptedServer.start(group: group) { _, line in
            line.hasPrefix("mg") ? .reply("GARBAGE\r\n") : .ignore
        }
        let memcache = pool(garbage, group: group)
        let error = await #expect(throws: MemcacheError.self) { try await memcache.get("k") }
        #expect(error?.code == .protocolViolation)
        await memcache.shutdown()
        #expect(try await garbage.allConnectionsClosed())
        #expect(received(garbage, "mg") == [0])

        // Silent to `mg`, but it answers `version`: the pool's one connection is up before the
        // timed get, so its 100 ms count from a request already written, never from a connect
        // a stalled sanitizer run dragged past them (CI saw that: the request never left).
        let silent = try await ScriptedServer.start(group: group) { _, line in
            line.hasPrefix("version") ? .reply("VERSION 1\r\n") : .ignore
        }
        let patient = pool(silent, group: group, responseTimeout: .milliseconds(100))
        // (Bounded retries: a stall can time the version out too, closing that connection.)
        var warmed = false
        for _ in 0..<10 where !warmed { warmed = (try? await patient.version()) == "1" }
        #expect(warmed)
        let timeout = await #expect(throws: MemcacheError.self) { try await patient.get("k") }
        #expect(timeout?.code == .timeout)
        // The timeout can fire before the server has read the request (a stalled loop): wait
        // until the request has arrived, then count what arrived once the pool has closed its
        // connections: one `mg`, where a retry would add a second. (Not compared with the
        // connection the last `version` line came from: a version that timed out on a first
        // connection can be read by the server after the one that succeeded on the next —
        // TSan CI saw that order.)
        await patient.shutdown()
        #expect(try await poll { !received(silent, "mg").isEmpty })
        #expect(try await silent.allConnectionsClosed())
        #expect(received(silent, "mg").count == 1)
        try await garbage.close()
        try await silent.close()
        try await group.shutdownGracefully()
    }

    @Test("a reply cut short by the hang-up is not retried: part of it had arrived")
    func cutShortNotRetried() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await ScriptedServer.start(group: group) { _, line in
            line.hasPrefix("mg") ? .replyAndClose("VA 5\r\nab") : .ignore
        }
        let memcache = pool(server, group: group)
        let error = await #expect(throws: MemcacheError.self) { try await memcache.get("k") }
        #expect(error?.code == .connectionClosed)
        await memcache.shutdown()
        #expect(try await server.allConnectionsClosed())
        #expect(received(server, "mg") == [0])
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("a set and a delete are never retried: the hang-up is the caller's error")
    func writesNotRetried() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await ScriptedServer.start(group: group) { _, line in
            line.hasPrefix("ms") || line.hasPrefix("md") ? .close : .ignore
        }
        let memcache = pool(server, group: group)
        let set = await #expect(throws: MemcacheError.self) { try await memcache.set("k", to: ByteBuffer(string: "v")) }
        #expect(set?.code == .connectionClosed)
        let delete = await #expect(throws: MemcacheError.self) { try await memcache.delete("k") }
        #expect(delete?.code == .connectionClosed)
        #expect(received(server, "ms").count == 1)
        #expect(received(server, "md").count == 1)
        await memcache.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("a quiet batch that delivered a reply before its connection closed is not sent again")
    func batchWithDeliveredReplyNotRetried() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await ScriptedServer.start(group: group) { _, line in
            if line.hasPrefix("mg a") { return .reply("VA 1 ka\r\n1\r\n") }
            if line.hasPrefix("mg b") { return .close }
            return .ignore
        }
        let memcache = pool(server, group: group)
        let replies = LockedValue(0)
        let error = await #expect(throws: MemcacheError.self) {
            try await memcache.sendBatch([
                .get("a", flags: [.returnValue, .returnKey]), .get("b", flags: [.returnValue, .returnKey]),
            ]) { _ in
                replies.withLock { $0 += 1 }
            }
        }
        #expect(error?.code == .connectionClosed)
        #expect(replies.withLock { $0 } == 1, "the delivered reply arrives once")
        #expect(received(server, "mg a") == [0])
        await memcache.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
