import Channels
import Codecs
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

/// Three real memcached behind a real nutcracker, and a `MemcachePool` in `.twemproxy` mode
/// through it.
private struct ProxiedMemcached: Sendable {
    let group: EventLoopGroup
    let backends: [MemcachedServer]
    let proxy: NutcrackerServer
    let pool: MemcachePool

    init() async throws {
        self.group = try EventLoopGroup(loopCount: 2)
        var backends: [MemcachedServer] = []
        for _ in 0..<3 { backends.append(try await MemcachedServer(group: self.group)) }
        self.backends = backends
        self.proxy = try await NutcrackerServer(backends: backends.map(\.port), group: self.group)
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: self.proxy.port, maxConnections: 8)
        configuration.wireProtocol = .twemproxy
        waitPatiently(&configuration)
        self.pool = MemcachePool(configuration: configuration, group: self.group)
    }

    func stop() async throws {
        await self.pool.shutdown()
        self.proxy.stop()
        for backend in self.backends { backend.stop() }
        try await self.group.shutdownGracefully()
    }
}

private func expectUnsupported(_ call: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async
{
    do {
        try await call()
        Issue.record("the call succeeded", sourceLocation: sourceLocation)
    } catch let error as MemcacheError {
        #expect(error.code == .unsupportedCommand, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("not a MemcacheError: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite(
    "Through twemproxy (nutcracker) in front of three memcached",
    .enabled(
        if: MemcachedServer.binary != nil && NutcrackerServer.binary != nil, "memcached or nutcracker is not installed")
)
struct TwemproxyTests {
    @Test("every command nutcracker forwards round-trips; each one it refuses fails alone with a typed error")
    func everyCommand() async throws {
        let setup = try await ProxiedMemcached()
        let pool = setup.pool
        let value = ByteBuffer(string: "v1")
        try await pool.set("k", to: value, flags: 3, ttl: 100)
        #expect(try await pool.get("k") == value)
        let item = try #require(try await pool.getItem("k"))
        #expect(item.flags == 3 && item.value == value)
        let cas = try #require(item.cas)
        #expect(try await pool.cas("k", value: ByteBuffer(string: "v2"), cas: cas &+ 1) == .exists)
        #expect(try await pool.cas("k", value: ByteBuffer(string: "v2"), cas: cas) == .stored)
        #expect(try await pool.add("k", value: value) == false)
        #expect(try await pool.add("fresh", value: value))
        #expect(try await pool.replace("fresh", value: ByteBuffer(string: "b")))
        #expect(try await pool.replace("absent", value: value) == false)
        #expect(try await pool.append("fresh", ByteBuffer(string: "c")))
        #expect(try await pool.prepend("fresh", ByteBuffer(string: "a")))
        #expect(try await pool.get("fresh") == ByteBuffer(string: "abc"))
        #expect(try await pool.touch("fresh", ttl: 50))
        #expect(try await pool.touch("absent", ttl: 50) == false)
        try await pool.set("n", to: ByteBuffer(string: "10"))
        #expect(try await pool.increment("n", by: 5) == 15)
        #expect(try await pool.decrement("n", by: 20) == 0)
        #expect(try await pool.increment("absent") == nil)
        #expect(try await pool.delete("fresh"))
        #expect(try await pool.delete("fresh") == false)
        #expect(try await pool.get("fresh") == nil)
        #expect(!(try await pool.version()).isEmpty)
        // A server error reply is that call's error; the connection goes on.
        do {
            _ = try await pool.increment("k")
            Issue.record("incr of a non-number succeeded")
        } catch let error as MemcacheError {
            #expect(error.code == .clientError)
        }

        // What nutcracker would close the connection on: refused here, before sending, and the
        // next call on the same pool still works.
        await expectUnsupported { _ = try await pool.getAndTouch("k", ttl: 5) }
        #expect(try await pool.get("k") == ByteBuffer(string: "v2"))
        await expectUnsupported { _ = try await pool.stats() }
        #expect(try await pool.get("k") == ByteBuffer(string: "v2"))
        await expectUnsupported { try await pool.flushAll() }
        #expect(try await pool.get("k") == ByteBuffer(string: "v2"))
        await expectUnsupported { try await pool.verbosity(1) }
        await expectUnsupported { _ = try await pool.send(.meta(.get("k", flags: [.returnValue]))) }
        await expectUnsupported { _ = try await pool.sendBatch([.get("k", flags: [.returnValue])], onReply: { _ in }) }
        #expect(try await pool.get("k") == ByteBuffer(string: "v2"))
        let statistics = await pool.statistics()
        #expect(statistics.total.closed == 0, "a refused command must not cost a connection: \(statistics)")
        try await setup.stop()
    }

    @Test(
        "10,000 concurrent callers each get their own value; a 100-key getMany over the three servers returns every value, each key on the server ketama names"
    )
    func concurrentCallersAndPlacement() async throws {
        let setup = try await ProxiedMemcached()
        let pool = setup.pool
        let keys = (0..<10_000).map { "key-\($0)" }
        func value(_ key: String) -> ByteBuffer { ByteBuffer(string: "value-of-\(key)") }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for key in keys { tasks.addTask { try await pool.set(key, to: value(key)) } }
            try await tasks.waitForAll()
        }
        let wrong = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for key in keys { tasks.addTask { try await pool.get(key) == value(key) ? 0 : 1 } }
            return try await tasks.reduce(0, +)
        }
        #expect(wrong == 0)

        let hundred = (0..<100).map { "key-\($0 * 97)" }
        let found = try await pool.getMany(hundred)
        #expect(found.count == 100)
        #expect(hundred.allSatisfy { found[$0] == value($0) })

        // Each key is on the memcached that ketama (as nutcracker computes it) names, and only there.
        let ring = KetamaRing(servers: setup.backends.map { (host: "127.0.0.1", port: $0.port) })
        var perServer = [Int](repeating: 0, count: 3)
        for (index, backend) in setup.backends.enumerated() {
            let direct = try await MemcacheConnection.connect(host: "127.0.0.1", port: backend.port, group: setup.group)
            let held = try await direct.getMany(try hundred.map { try MemcacheKey($0) })
            try await direct.close()
            for key in hundred {
                let expected = ring.serverIndex(for: Array(key.utf8)) == index
                #expect((held[try MemcacheKey(key)] != nil) == expected, "\(key) on server \(index)")
            }
            perServer[index] = held.count
        }
        #expect(perServer.allSatisfy { $0 > 0 }, "the 100 keys spread over all three servers: \(perServer)")
        try await setup.stop()
    }
}

@Suite(
    "The text protocol against a real memcached",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct TextProtocolPoolTests {
    @Test(
        "every command round-trips in the classic text protocol, administrative ones included; meta commands are refused"
    )
    func everyCommand() async throws {
        let fixture = try await MemcachePoolFixture { $0.wireProtocol = .text }
        let pool = fixture.pool
        try await pool.set("k", to: ByteBuffer(string: "v"), flags: 9)
        let item = try #require(try await pool.getAndTouch("k", ttl: 100))
        #expect(item.flags == 9 && item.value == ByteBuffer(string: "v") && item.cas != nil)
        #expect(try await pool.getMany(["k", "absent"]) == [MemcacheKey("k"): ByteBuffer(string: "v")])
        #expect(try await pool.stats()["cmd_touch"] != nil)
        try await pool.verbosity(0)
        try await pool.flushAll()
        #expect(try await pool.get("k") == nil)
        await expectUnsupported { _ = try await pool.send(.meta(.noop)) }
        #expect(try await pool.add("k", value: ByteBuffer(string: "w")))
        try await fixture.stop()
    }
}
