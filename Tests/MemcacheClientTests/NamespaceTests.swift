import Channels
import Codecs
import MemcacheClient
import TestSupport
import Testing

@Suite(
    "MemcacheNamespace against a real memcached",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct NamespaceTests {
    @Test(
        "two namespaces on one memcached never see each other's keys (single, multi-key, bulk, quiet batches, binary keys); replies carry the caller's own keys"
    )
    func separated() async throws {
        let fixture = try await MemcachePoolFixture()
        let pool = fixture.pool
        let a = try MemcacheNamespace("app-a:", over: pool)
        let b = try MemcacheNamespace("app-b:", over: pool)

        try await a.set("k", to: ByteBuffer(string: "A"))
        try await b.set("k", to: ByteBuffer(string: "B"))
        #expect(try await a.get("k") == ByteBuffer(string: "A"))
        #expect(try await b.get("k") == ByteBuffer(string: "B"))
        #expect(try await pool.get("app-a:k") == ByteBuffer(string: "A"))
        #expect(try await pool.get("k") == nil)

        #expect(try await a.setMany(["x": ByteBuffer(string: "1"), "y": ByteBuffer(string: "2")]).isEmpty)
        #expect(try await b.getMany(["x", "y", "k"]) == ["k": ByteBuffer(string: "B")])
        #expect(
            try await a.getMany(["x", "y", "k"])
                == ["x": ByteBuffer(string: "1"), "y": ByteBuffer(string: "2"), "k": ByteBuffer(string: "A")])
        // A text multi-get and a meta get returning its key: the keys come back unprefixed.
        let items = try await a.send(.get(keys: ["x", "k"], withCAS: false))
        guard case .values(let values) = items else {
            Issue.record("multi-get answered \(items)")
            return
        }
        #expect(Set(values.map { String(decoding: $0.key, as: UTF8.self) }) == ["x", "k"])
        let reply = try await a.send(.meta(.get("k", flags: [.returnValue, .returnKey])))
        guard case .meta(let meta) = reply else {
            Issue.record("mg answered \(reply)")
            return
        }
        #expect(meta.key == Array("k".utf8))
        #expect(try await a.getItem("k")?.key == Array("k".utf8))

        // Binary keys: prefixed too, and found again by a quiet batch that returns them.
        let binary = try MemcacheKey.binary([0x00, 0xFF, 0x0A])
        try await a.set(binary, to: ByteBuffer(string: "bin"))
        #expect(try await b.get(binary) == nil)
        #expect(
            try await a.getMany([binary, "k"]) == [binary: ByteBuffer(string: "bin"), "k": ByteBuffer(string: "A")])
        let binaryReply = try await a.send(.meta(.get(binary, flags: [.returnValue, .returnKey])))
        guard case .meta(let binaryMeta) = binaryReply else {
            Issue.record("mg answered \(binaryReply)")
            return
        }
        #expect(binaryMeta.key == [0x00, 0xFF, 0x0A])
        #expect(binaryMeta.value == ByteBuffer(string: "bin"))

        #expect(try await a.deleteMany(["x"]).isEmpty)
        #expect(try await a.get("x") == nil)
        #expect(try await b.getMany(["y"]).isEmpty)
        #expect(try await a.get("y") == ByteBuffer(string: "2"))

        // The key limit is the prefixed key's; flush_all would empty every namespace.
        let long = try MemcacheKey(String(repeating: "z", count: 245))
        let tooLong = await #expect(throws: MemcacheError.self) { try await a.set(long, to: ByteBuffer(string: "v")) }
        #expect(tooLong?.code == .invalidKey)
        let flush = await #expect(throws: MemcacheError.self) { try await a.flushAll() }
        #expect(flush?.code == .invalidArgument)
        #expect(try await b.get("k") == ByteBuffer(string: "B"))
        #expect(throws: MemcacheError.self) { try MemcacheNamespace("has space", over: pool) }
        try await fixture.stop()
    }
}
