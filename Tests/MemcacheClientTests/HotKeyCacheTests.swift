import Channels
import Codecs
import MemcacheClient
import TestSupport
import Testing

@Suite(
    "MemcacheHotKeyCache against a real memcached",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct HotKeyCacheTests {
    /// memcached's `cmd_get` now.
    static func serverGets(_ fixture: MemcachePoolFixture) async throws -> Int {
        Int(try await fixture.pool.stats()["cmd_get"] ?? "") ?? -1
    }

    @Test("a key read by 10,000 callers on the loops: the server sees a small fraction of the reads")
    func hotKey() async throws {
        let fixture = try await MemcachePoolFixture()
        try await fixture.pool.set("flags", to: ByteBuffer(string: "on"))
        // Hot once, for the whole test, and kept for the longest TTL: with the default
        // second-long window a sanitizer's stalls let the key cool down and warm up again
        // (32 reads to the server each time) hundreds of times in a run.
        var configuration = MemcacheHotKeyCache.Configuration()
        configuration.window = testPatience
        configuration.ttl = .seconds(2)
        let hot = MemcacheHotKeyCache(over: fixture.pool, group: fixture.group, configuration: configuration)
        let before = try await Self.serverGets(fixture)
        let wrong = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for caller in 0..<10_000 {
                tasks.addTask(executorPreference: fixture.group.loops[caller % fixture.group.loops.count]) {
                    var wrong = 0
                    for _ in 0..<5 where try await hot.get("flags") != ByteBuffer(string: "on") { wrong += 1 }
                    return wrong
                }
            }
            return try await tasks.reduce(0, +)
        }
        let served = try await Self.serverGets(fixture) - before - 1 // the stats call's own read is not a get
        let statistics = hot.statistics
        #expect(wrong == 0)
        #expect(statistics.hits + statistics.misses == 50_000)
        // Each loop reads the key until it is hot (about sampleEvery × hotAfter reads), then
        // once per TTL.
        #expect(served < 2_500, "the server answered \(served) of 50,000 reads (\(statistics))")
        #expect(statistics.hits > 45_000, "\(statistics)")
        try await fixture.stop()
    }

    @Test(
        "a value changed elsewhere is served at most the TTL late; a write through the cache on the loop drops it at once"
    )
    func staleness() async throws {
        let fixture = try await MemcachePoolFixture()
        let loop = fixture.group.loops[0]
        var configuration = MemcacheHotKeyCache.Configuration()
        configuration.ttl = .milliseconds(300)
        let hot = MemcacheHotKeyCache(over: fixture.pool, group: fixture.group, configuration: configuration)
        try await fixture.pool.set("k", to: ByteBuffer(string: "v1"))
        try await Task(executorPreference: loop) {
            // Hot, and kept: a read is served from the cache. (A sanitizer can stall the
            // process for longer than the TTL between the read that kept the value and the
            // next: that read then misses and keeps the value again, so try more than once.)
            var servedFromCache = false
            for _ in 0..<1_000 where !servedFromCache {
                let hitsBefore = hot.statistics.hits
                _ = try await hot.get("k")
                servedFromCache = hot.statistics.hits > hitsBefore
            }
            #expect(servedFromCache, "the key is served from the cache")

            // Changed behind the cache's back: every stale read comes before the write + TTL.
            try await fixture.pool.set("k", to: ByteBuffer(string: "v2"))
            let written = loop.now
            var fresh = false
            for _ in 0..<10_000 where !fresh {
                // Taken before the read: the cache decides after it, so a stale value means
                // this time was still within the TTL (however long a sanitizer stalls after).
                let asked = loop.now
                let value = try await hot.get("k")
                if value == ByteBuffer(string: "v2") {
                    fresh = true
                } else {
                    #expect(asked < written + configuration.ttl, "v1 served \(asked - written) after the write")
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            #expect(fresh)

            // Through the cache on this loop: the next read is the new value.
            for _ in 0..<64 { _ = try await hot.get("k") }
            try await hot.set("k", to: ByteBuffer(string: "v3"))
            #expect(try await hot.get("k") == ByteBuffer(string: "v3"))
            #expect(try await hot.delete("k"))
            #expect(try await hot.get("k") == nil)
        }.value
        try await fixture.stop()
    }

    @Test("bounded per loop; callers off the loops read through; other commands pass")
    func bounds() async throws {
        let fixture = try await MemcachePoolFixture()
        var configuration = MemcacheHotKeyCache.Configuration()
        configuration.maximumEntries = 4
        configuration.sampleEvery = 1
        configuration.hotAfter = 1
        let hot = MemcacheHotKeyCache(over: fixture.pool, group: fixture.group, configuration: configuration)
        for index in 0..<20 { try await fixture.pool.set("k\(index)", to: ByteBuffer(string: "\(index)")) }
        try await Task(executorPreference: fixture.group.loops[0]) {
            for _ in 0..<3 {
                for index in 0..<20 {
                    let value = try await hot.get("k\(index)")
                    #expect(value == ByteBuffer(string: "\(index)"))
                }
            }
        }.value
        #expect(hot.statistics.entries <= 4)
        let before = hot.statistics
        #expect(try await hot.get("k1") == ByteBuffer(string: "1")) // this test's own task: on no loop
        #expect(hot.statistics.hits == before.hits && hot.statistics.misses == before.misses)
        #expect(try await hot.getMany(["k1", "k2"]).count == 2)
        #expect(try await hot.increment("absent", by: 1) == nil)
        try await fixture.stop()
    }
}
