import Channels
import Codecs
import MemcacheClient
import Pool
import TestSupport
import Testing

/// A pool of one connection to `server`.
private func pool(_ server: ScriptedServer, group: EventLoopGroup, retry: Bool = true) -> MemcachePool {
    var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: server.port, maxConnections: 1)
    configuration.retryIdempotent = retry
    waitPatiently(&configuration)
    configuration.responseTimeout = testPatience
    configuration.pool.backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(1))
    return MemcachePool(configuration: configuration, group: group)
}

/// `MemcachePool.get` from a task on the pool's loop with its connection up: the path that
/// writes `mg <key> v` straight from the key (`MemcacheClientHandler.sendValueGet`).
@Suite("MemcachePool get on its own loop")
struct MemcachePoolLoopGetTests {
    @Test("hits, misses, binary keys and error replies read as through send; the bytes are the encoder's")
    func readsLikeSend() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await ScriptedServer.start(group: group) { _, line in
            switch line {
            case "version": .reply("VERSION 1\r\n")
            case "mg hit v": .reply("VA 1\r\nx\r\n")
            case "mg empty v": .reply("VA 0\r\n\r\n")
            case "mg miss v": .reply("EN\r\n")
            case "mg /wAK b v": .reply("VA 2\r\nyz\r\n")
            case "mg broken v": .reply("SERVER_ERROR out of memory\r\n")
            case "mg odd v": .reply("HD\r\n")
            default: .ignore
            }
        }
        let memcache = pool(server, group: group)
        try await Task(executorPreference: group.loops[0]) { () async throws in
            #expect(try await memcache.version() == "1") // the connection is up: the loop's path
            #expect(try await memcache.get(MemcacheKey("hit")) == ByteBuffer(string: "x"))
            #expect(try await memcache.get(MemcacheKey("empty")) == ByteBuffer())
            #expect(try await memcache.get(MemcacheKey("miss")) == nil)
            #expect(try await memcache.get(MemcacheKey.binary([0xff, 0x00, 0x0a])) == ByteBuffer(string: "yz"))
            let failed = await #expect(throws: MemcacheError.self) { try await memcache.get(MemcacheKey("broken")) }
            #expect(failed?.code == .serverError)
            let odd = await #expect(throws: MemcacheError.self) { try await memcache.get(MemcacheKey("odd")) }
            #expect(odd?.code == .unexpectedResponse)
            // The connection lived through both errors: one connection, every line on it.
            #expect(try await memcache.get(MemcacheKey("hit")) == ByteBuffer(string: "x"))
        }.value
        await memcache.shutdown()
        #expect(try await server.allConnectionsClosed())
        let lines = server.lines.withLock { $0 }
        #expect(
            lines.map(\.line) == [
                "version", "mg hit v", "mg empty v", "mg miss v", "mg /wAK b v", "mg broken v", "mg odd v", "mg hit v",
            ])
        #expect(Set(lines.map(\.connection)) == [0])
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("a get whose connection closes before any byte of its reply goes once more, as through send")
    func retriedOnce() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await ScriptedServer.start(group: group) { connection, line in
            if line == "version" { return .reply("VERSION 1\r\n") }
            guard line.hasPrefix("mg") else { return .ignore }
            return connection == 0 ? .close : .reply("VA 1\r\nx\r\n")
        }
        let memcache = pool(server, group: group)
        let strictServer = try await ScriptedServer.start(group: group) { _, line in
            line == "version" ? .reply("VERSION 1\r\n") : line.hasPrefix("mg") ? .close : .ignore
        }
        let strict = pool(strictServer, group: group, retry: false)
        try await Task(executorPreference: group.loops[0]) { () async throws in
            #expect(try await memcache.version() == "1")
            #expect(try await memcache.get(MemcacheKey("k")) == ByteBuffer(string: "x"))
            #expect(try await strict.version() == "1")
            let error = await #expect(throws: MemcacheError.self) { try await strict.get(MemcacheKey("k")) }
            #expect(error?.code == .connectionClosed)
        }.value
        await memcache.shutdown()
        await strict.shutdown()
        #expect(try await server.allConnectionsClosed())
        #expect(try await strictServer.allConnectionsClosed())
        let mg = server.lines.withLock { $0.filter { $0.line.hasPrefix("mg") }.map(\.connection) }
        #expect(mg == [0, 1])
        #expect(strictServer.lines.withLock { $0.filter { $0.line.hasPrefix("mg") }.count } == 1)
        try await server.close()
        try await strictServer.close()
        try await group.shutdownGracefully()
    }
}
