import Channels
import Codecs
import MemcacheClient
import MemcacheServer
import TestSupport
import Testing

@Suite(
    "stats items, slabs, conns, settings and sizes beside memcached 1.6.18's",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct StatsGroupsTests {
    /// The same items in both servers: 5 small (class 1), 3 of 300 bytes (class 7), one of
    /// 100 KiB.
    static func fill(_ memcache: MemcacheConnection) async throws {
        for index in 0..<5 { try await memcache.set("s\(index)", to: ByteBuffer(string: "abc")) }
        for index in 0..<3 {
            try await memcache.set("m\(index)", to: ByteBuffer(bytes: [UInt8](repeating: 0x61, count: 300)))
        }
        try await memcache.set("large", to: ByteBuffer(bytes: [UInt8](repeating: 0x62, count: 100 << 10)))
    }

    @Test("the same classes, counts and chunk sizes; every key we report is one memcached reports")
    func itemsAndSlabs() async throws {
        let fixture = try await EmbeddedServerFixture()
        let memcached = try await MemcachedServer(group: fixture.group)
        let ours = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        let theirs = try await MemcacheConnection.connect(
            host: "127.0.0.1", port: memcached.port, group: fixture.group)
        try await Self.fill(ours)
        try await Self.fill(theirs)

        let (ourItems, theirItems) = (try await ours.stats("items"), try await theirs.stats("items"))
        #expect(
            Set(ourItems.keys).isSubset(of: Set(theirItems.keys)), "\(Set(ourItems.keys).subtracting(theirItems.keys))")
        let numbers = { (items: [String: String]) in items.filter { $0.key.hasSuffix(":number") } }
        #expect(numbers(ourItems) == numbers(theirItems))
        #expect(ourItems["items:1:number"] == "5" && ourItems["items:7:number"] == "3")

        let (ourSlabs, theirSlabs) = (try await ours.stats("slabs"), try await theirs.stats("slabs"))
        #expect(
            Set(ourSlabs.keys).isSubset(of: Set(theirSlabs.keys)), "\(Set(ourSlabs.keys).subtracting(theirSlabs.keys))")
        for key in ourSlabs.keys where key.hasSuffix(":chunk_size") || key.hasSuffix(":used_chunks") {
            #expect(ourSlabs[key] == theirSlabs[key], "\(key)")
        }
        #expect(ourSlabs["active_slabs"] == theirSlabs["active_slabs"])

        #expect(try await ours.stats("sizes") == theirs.stats("sizes"))
        try await ours.close()
        try await theirs.close()
        memcached.stop()
        try await fixture.stop()
    }

    @Test("stats settings: memcached's keys (and one of ours), the same values where the servers are set alike")
    func settings() async throws {
        let fixture = try await EmbeddedServerFixture()
        let memcached = try await MemcachedServer(group: fixture.group)
        let ours = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        let theirs = try await MemcacheConnection.connect(
            host: "127.0.0.1", port: memcached.port, group: fixture.group)
        let (mine, memcacheds) = (try await ours.stats("settings"), try await theirs.stats("settings"))
        #expect(mine.count >= 25)
        #expect(
            Set(mine.keys).subtracting(["incomplete_request_timeout"]).isSubset(of: Set(memcacheds.keys)),
            "\(Set(mine.keys).subtracting(memcacheds.keys))")
        for key in [
            "maxbytes", "maxconns", "udpport", "inter", "evictions", "domain_socket", "growth_factor", "chunk_size",
            "cas_enabled", "auth_enabled_sasl", "auth_enabled_ascii", "item_size_max", "slab_chunk_max",
            "flush_enabled", "ssl_enabled", "stat_key_prefix", "umask",
        ] {
            #expect(
                mine[key] == memcacheds[key], "\(key): ours \(mine[key] ?? "-"), memcached's \(memcacheds[key] ?? "-")")
        }
        #expect(mine["tcpport"] == "\(fixture.port)")
        #expect(mine["num_threads"] == "2")
        try await ours.close()
        try await theirs.close()
        memcached.stop()
        try await fixture.stop()
    }

    @Test("stats conns lists the listener and every open connection, each with memcached's keys")
    func connections() async throws {
        let fixture = try await EmbeddedServerFixture()
        let memcached = try await MemcachedServer(group: fixture.group)
        let first = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        let second = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        _ = try await second.version()
        let lines = try await first.stats("conns")
        let local = try #require(second.channel.localAddress)
        #expect(lines.values.contains("tcp:\(local)"), "\(lines)")
        #expect(lines["0:state"] == "conn_listening" && lines["0:addr"] == "tcp:127.0.0.1:\(fixture.port)")
        #expect(lines.keys.filter { $0.hasSuffix(":addr") }.count == 3)
        let theirs = try await MemcacheConnection.connect(
            host: "127.0.0.1", port: memcached.port, group: fixture.group)
        let suffixes = { (lines: [String: String]) in Set(lines.keys.map { $0.split(separator: ":").last ?? "" }) }
        #expect(suffixes(lines) == suffixes(try await theirs.stats("conns")))
        // A closed connection leaves the list.
        try await second.close()
        var remaining = 3
        for _ in 0..<30000 where remaining != 2 { // bounded by testPatience's 600 s
            remaining = try await first.stats("conns").keys.filter { $0.hasSuffix(":addr") }.count
            if remaining != 2 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(remaining == 2)
        try await first.close()
        try await theirs.close()
        memcached.stop()
        try await fixture.stop()
    }
}
