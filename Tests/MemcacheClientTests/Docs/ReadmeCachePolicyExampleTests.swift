// swift-format-ignore-file
// (Documentation snippets keep their hand layout, aligned comments included:
// DocumentationSnippetTests compares them with the articles line for line.)
import Channels
import Codecs
import MemcacheClient
import Pool
import Testing
import TestSupport

// The "Cache policies" article's example (MemcacheClient.docc), kept compiling and working.

private struct Profile: Codable, Sendable, Equatable {
    var name: String
}

private func renderHomePage() async throws -> ByteBuffer { ByteBuffer(string: "<h1>home</h1>") }
private func topStories() async throws -> ByteBuffer { ByteBuffer(string: "1. 2. 3.") }

/// The article's code, line for line (the values and the profile are made here).
private func cachePolicies(pool: MemcachePool, values: [MemcacheKey: ByteBuffer], profile: Profile) async throws -> (ByteBuffer, ByteBuffer, [MemcacheKey: MemcacheError], Profile?) {
    // snippet: memcache-cache-policies
    // One compute however many callers miss together (mg … N: the server picks one winner).
    let page = try await pool.getOrCompute("page:/home", ttl: 60) { try await renderHomePage() }

    // Refresh a hot item before it expires: the first reader in its last 10 s recomputes while
    // everybody else keeps getting the current value.
    var policy = MemcacheComputePolicy()
    policy.recacheBelow = 10
    let hot = try await pool.getOrCompute("top-stories", ttl: 300, policy: policy) { try await topStories() }

    // Invalidate instead of delete: readers get the old value, flagged stale, until one refresh lands.
    _ = try await pool.invalidate("user:42")

    // 10,000 writes in one exchange; only failures come back, each for its own key.
    let failed = try await pool.setMany(values, ttl: 300)  // [MemcacheKey: ByteBuffer] → [MemcacheKey: MemcacheError]

    // Typed values: the client flags record the format, a reader can tell what it got.
    try await pool.set("profile:7", value: MemcacheJSON(profile))
    let stored = try await pool.get("profile:7", as: MemcacheJSON<Profile>.self)?.value
    // end snippet
    return (page, hot, failed, stored)
}

@Suite("Cache policies article example", .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct ReadmeCachePolicyExampleTests {
    @Test("the cache policies article's example runs against memcached")
    func example() async throws {
        let fixture = try await MemcachePoolFixture()
        var values: [MemcacheKey: ByteBuffer] = [:]
        for index in 0..<10_000 { values[try MemcacheKey("readme-\(index)")] = ByteBuffer(string: "\(index)") }
        let (page, hot, failed, stored) = try await cachePolicies(pool: fixture.pool, values: values, profile: Profile(name: "Ada"))
        #expect(page == ByteBuffer(string: "<h1>home</h1>"))
        #expect(hot == ByteBuffer(string: "1. 2. 3."))
        #expect(failed.isEmpty)
        #expect(stored == Profile(name: "Ada"))
        try await fixture.stop()
    }
}
