import Channels
import Codecs
import Foundation
import MemcacheClient
import TestSupport
import Testing

@testable import MemcacheClient

@Suite(
    "MemcacheCompression (zstd) against a real memcached",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct CompressionTests {
    struct Row: Codable, Sendable, Equatable {
        var id: Int
        var name: String
        var tags: [String]
        var score: Double
    }

    /// About 40 KB of JSON, as repetitive as real documents are.
    static let rows = (0..<440).map {
        Row(
            id: $0, name: "customer-\($0 % 37)", tags: ["plan:\($0 % 3)", "region:eu-\($0 % 5)"], score: Double($0) / 7)
    }
    static var json: ByteBuffer { ByteBuffer(bytes: [UInt8](try! JSONEncoder().encode(Self.rows))) }

    /// The size and flags memcached holds for `key` (`mg <key> s f`).
    static func stored(_ key: MemcacheKey, in fixture: MemcachePoolFixture) async throws -> (size: Int, flags: UInt32)?
    {
        let memcache = try await MemcacheConnection.connect(
            host: "127.0.0.1", port: fixture.server.port, group: fixture.group)
        defer { _ = memcache.channel.close() }
        let reply = try await memcache.send(.meta(.get(key, flags: [try MemcacheMetaFlag(letter: "s"), .returnFlags])))
        guard case .meta(let meta) = reply, meta.status == .headerOnly else { return nil }
        return (Int(meta.token("s") ?? "") ?? -1, UInt32(meta.token("f") ?? "") ?? 0)
    }

    @Test(
        "a 40 KB JSON round-trips and is stored compressed; small values are untouched; every read path decompresses",
        arguments: [MemcacheProtocol.meta, .text])
    func roundTrip(wireProtocol: MemcacheProtocol) async throws {
        let fixture = try await MemcachePoolFixture { $0.wireProtocol = wireProtocol }
        let cache = try MemcacheCompression(.zstd(level: 3), over: fixture.pool)
        let json = Self.json
        #expect(json.readableBytes > 38_000 && json.readableBytes < 45_000, "\(json.readableBytes)")

        try await cache.set("report", to: json, flags: 7)
        let stored = try #require(try await Self.stored("report", in: fixture))
        #expect(stored.size < json.readableBytes / 3, "stored \(stored.size) of \(json.readableBytes) bytes")
        #expect(stored.flags == 7 | MemcacheCompression.flag)
        #expect(try await cache.get("report") == json)
        let item = try #require(try await cache.getItem("report"))
        #expect(item.value == json && item.flags == 7)
        #expect(try await cache.getMany(["report", "absent"]) == ["report": json])

        try await cache.set("small", to: ByteBuffer(string: "tiny"))
        #expect(try await Self.stored("small", in: fixture)?.flags == 0)
        #expect(try await fixture.pool.get("small") == ByteBuffer(string: "tiny"))

        // Typed values keep their own flags.
        try await cache.set("rows", value: MemcacheJSON(Self.rows))
        #expect(try await cache.get("rows", as: MemcacheJSON<[Row]>.self)?.value == Self.rows)
        if wireProtocol == .meta {
            // getOrCompute (meta leases), bulk writes and a binary key's quiet batch.
            let computed = try await cache.getOrCompute("computed", ttl: 60) { json }
            #expect(computed == json)
            #expect(try await cache.get("computed") == json)
            #expect(try await Self.stored("computed", in: fixture)?.flags == MemcacheCompression.flag)
            let failed = try await cache.setMany(["bulk-a": json, "bulk-b": ByteBuffer(string: "b")])
            #expect(failed.isEmpty)
            #expect(try await Self.stored("bulk-a", in: fixture)?.flags == MemcacheCompression.flag)
            let binary = try MemcacheKey.binary([0x00, 0xFE])
            try await cache.set(binary, to: json)
            #expect(try await cache.getMany([binary, "bulk-a", "bulk-b"]).count == 3)
        }
        try await fixture.stop()
    }

    @Test("corrupt bytes marked compressed, and a bomb over the limit, are typed errors naming the key")
    func refusals() async throws {
        let fixture = try await MemcachePoolFixture()
        let cache = try MemcacheCompression(.zstd(), over: fixture.pool, maximumDecompressedSize: 1 << 20)
        try await fixture.pool.set(
            "corrupt", to: ByteBuffer(string: "not zstd at all"), flags: MemcacheCompression.flag)
        await #expect {
            _ = try await cache.get("corrupt")
        } throws: { error in
            let error = error as? MemcacheError
            return error?.code == .decompressionFailed && error?.message.contains("corrupt") == true
        }
        // 4 MiB of zeros is a frame of a few hundred bytes: over the 1 MiB limit, refused unread.
        let zeros = [UInt8](repeating: 0, count: 4 << 20)
        let bomb = try #require(zeros.withUnsafeBytes { Zstd.shared?.compress($0, level: 3) })
        #expect(bomb.count < 1000)
        try await fixture.pool.set("bomb", to: ByteBuffer(bytes: bomb), flags: MemcacheCompression.flag)
        await #expect {
            _ = try await cache.get("bomb")
        } throws: { error in
            let error = error as? MemcacheError
            return error?.code == .decompressionFailed && error?.message.contains("over the limit") == true
        }
        // A cut frame.
        let frame = try #require(Self.json.withUnsafeReadableBytes { Zstd.shared?.compress($0, level: 3) })
        try await fixture.pool.set(
            "cut", to: ByteBuffer(bytes: frame.dropLast(10)), flags: MemcacheCompression.flag)
        await #expect(throws: MemcacheError.self) { _ = try await cache.get("cut") }
        // The pool is unharmed.
        #expect(try await cache.get("absent") == nil)
        try await fixture.stop()
    }

    @Test("pymemcache reads what we store under the threshold, and we read what it stores")
    func pymemcache() async throws {
        let python = try await pythonWithPackages(["pymemcache==4.0.0"])
        let fixture = try await MemcachePoolFixture()
        let cache = try MemcacheCompression(.zstd(), over: fixture.pool)
        try await cache.set("ours", to: ByteBuffer(string: "written by swift"))
        let script = """
            import sys
            from pymemcache.client.base import Client
            c = Client(("127.0.0.1", int(sys.argv[1])), connect_timeout=120, timeout=120)
            assert c.get("ours") == b"written by swift", c.get("ours")
            c.set("theirs", b"written by python" * 100)
            print("ok")
            """
        let output = try await runProcess(python, ["-c", script, "\(fixture.server.port)"])
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        #expect(
            try await cache.get("theirs") == ByteBuffer(string: String(repeating: "written by python", count: 100)))
        try await fixture.stop()
    }
}
