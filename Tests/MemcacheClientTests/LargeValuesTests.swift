import Channels
import Codecs
import MemcacheClient
import TestSupport
import Testing

@testable import MemcacheClient

@Suite(
    "MemcacheLargeValues against a real memcached with its default 1 MiB item limit",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct LargeValuesTests {
    static func bytes(_ count: Int, seed: UInt64) -> ByteBuffer {
        ByteBuffer(bytes: randomBytes(count: count, seed: seed))
    }

    /// The chunk keys memcached holds for `key`'s value now (through the index).
    static func chunkKeys(_ key: MemcacheKey, pool: MemcachePool) async throws -> [MemcacheKey] {
        let item = try #require(try await pool.getItem(key))
        #expect(item.flags & MemcacheLargeValues.flag != 0)
        return try #require(MemcacheLargeValues.Index(key: key, value: item.value)).chunkKeys
    }

    @Test("3 MiB and 50 MiB values round-trip; small values are untouched", arguments: [MemcacheProtocol.meta, .text])
    func roundTrip(wireProtocol: MemcacheProtocol) async throws {
        let fixture = try await MemcachePoolFixture(arguments: ["-m", "256"]) { $0.wireProtocol = wireProtocol }
        let big = try MemcacheLargeValues(over: fixture.pool)
        let three = Self.bytes(3 << 20, seed: 3)
        try await big.set("three", to: three, flags: 5)
        #expect(try await big.get("three") == three)
        let item = try #require(try await big.getItem("three"))
        #expect(item.flags == 5 && item.value == three)
        #expect(try await big.getMany(["three", "absent"]) == ["three": three])
        #expect(try await fixture.pool.get("three").map { $0.readableBytes < 200 } == true, "the key holds the index")

        if wireProtocol == .meta {
            let fifty = Self.bytes(50 << 20, seed: 50)
            try await big.set("fifty", to: fifty)
            #expect(try await big.get("fifty") == fifty)
            #expect(try await big.delete("fifty"))
        }

        try await big.set("small", to: ByteBuffer(string: "s"))
        #expect(try await fixture.pool.getItem("small")?.flags == 0)
        #expect(try await big.get("small") == ByteBuffer(string: "s"))
        try await fixture.stop()
    }

    @Test("a chunk evicted or overwritten reads as a miss, never wrong bytes; overwrites and deletes remove old chunks")
    func damagedChunks() async throws {
        let fixture = try await MemcachePoolFixture()
        let big = try MemcacheLargeValues(over: fixture.pool)
        let value = Self.bytes(3_500_000, seed: 7)

        try await big.set("evicted", to: value)
        let evicted = try await Self.chunkKeys("evicted", pool: fixture.pool)
        #expect(evicted.count == 4)
        #expect(try await fixture.pool.delete(evicted[2]))
        #expect(try await big.get("evicted") == nil)

        try await big.set("overwritten", to: value)
        let overwritten = try await Self.chunkKeys("overwritten", pool: fixture.pool)
        // The same length, other bytes: only the checksum can tell.
        try await fixture.pool.set(overwritten[1], to: Self.bytes(1_000_000, seed: 99))
        #expect(try await big.get("overwritten") == nil)

        // A new version: new chunks, and the old ones are gone.
        try await big.set("versioned", to: value)
        let first = try await Self.chunkKeys("versioned", pool: fixture.pool)
        let second = Self.bytes(2_100_000, seed: 8)
        try await big.set("versioned", to: second)
        #expect(try await big.get("versioned") == second)
        #expect(try await fixture.pool.getMany(first).isEmpty)
        let current = try await Self.chunkKeys("versioned", pool: fixture.pool)
        #expect(try await big.delete("versioned"))
        #expect(try await fixture.pool.getMany(current).isEmpty)
        #expect(try await big.get("versioned") == nil)

        // add of a present key stores nothing, and leaves no chunks behind.
        #expect(try await !big.add("evicted", value: value))
        await #expect(throws: MemcacheError.self) { _ = try await big.append("evicted", value) }
        try await fixture.stop()
    }
}
