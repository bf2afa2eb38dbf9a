import Channels
import Codecs
import Pool
import TestSupport
import Testing

@testable import MemcacheClient

@Suite("MemcacheGutterRoute: TTLs in the gutter")
struct GutterTTLTests {
    let route = MemcacheGutterRoute(
        primary: MemcacheReplicatedRoute(copies: []), gutter: MemcacheReplicatedRoute(copies: []), maximumTTL: 10)

    @Test("every TTL a request carries is capped; 0 (never) and absolute times become the cap; a negative one stays")
    func cappedTTLs() {
        func ttl(_ request: MemcacheRequest) -> Int? {
            if case .store(let store) = request { return store.ttl }
            if case .touch(_, let ttl, _) = request { return ttl }
            if case .getAndTouch(let ttl, _, _) = request { return ttl }
            return nil
        }
        let key: MemcacheKey = "k"
        for (given, capped) in [(0, 10), (3, 3), (10, 10), (300, 10), (1_900_000_000, 10), (-1, -1)] {
            #expect(
                ttl(self.route.capped(.store(MemcacheStore(mode: .set, key: key, ttl: given, value: ByteBuffer()))))
                    == capped)
            #expect(ttl(self.route.capped(.touch(key: key, ttl: given, noreply: false))) == capped)
            #expect(ttl(self.route.capped(.getAndTouch(ttl: given, keys: [key], withCAS: false))) == capped)
        }
        #expect(self.route.capped(.delete(key: key, noreply: false)) == .delete(key: key, noreply: false))
    }

    @Test("meta: T and N flags are capped, an ms without T gets the cap, other flags stay")
    func cappedMetaFlags() {
        let key: MemcacheKey = "k"
        let set = self.route.capped(.set(key, value: ByteBuffer(string: "v"), flags: [.clientFlags(3)]))
        #expect(set.flags == [.clientFlags(3), .ttl(10)])
        let long = self.route.capped(.set(key, value: ByteBuffer(), flags: [.ttl(3600), .mode("E")]))
        #expect(long.flags == [.ttl(10), .mode("E")])
        let get = self.route.capped(.get(key, flags: [.returnValue, .vivify(ttl: 60), .ttl(5)]))
        #expect(get.flags == [.returnValue, .vivify(ttl: 10), .ttl(5)])
        let delete = self.route.capped(.delete(key))
        #expect(delete.flags.isEmpty)
    }
}

@Suite(
    "MemcacheGutterRoute against real memcached",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct GutterRouteTests {
    @Test(
        "a server partitioned away (nftables): its keys live in the gutter with a capped TTL; after the heal the ring server takes them back",
        .enabled(if: NetworkNamespace.unavailableReason == nil, "\(NetworkNamespace.unavailableReason ?? "")"))
    func partitionedServer() async throws {
        let binary = try #require(MemcachedServer.binary)
        let group = try EventLoopGroup(loopCount: 2)
        let local = try await MemcachedServer(group: group)
        let spare = try await MemcachedServer(group: group)
        try await NetworkNamespace.with { namespace in
            let remote = try namespace.spawn(
                binary, ["-l", namespace.innerAddress, "-p", "11211", "-U", "0", "-t", "1", "-u", "root"])
            defer { remote.kill() }
            var ejection = MemcacheEjectionPolicy()
            ejection.failureLimit = 1
            ejection.retryAfter = .milliseconds(500)
            ejection.maximumRetryAfter = .seconds(1)
            ejection.probeTimeout = .seconds(2)
            let set = MemcacheServerSet(
                servers: [
                    .init(host: namespace.innerAddress, port: 11211), .init(host: "127.0.0.1", port: local.port),
                ],
                maxConnectionsPerServer: 2, group: group, failurePolicy: .failFast, ejection: ejection
            ) { configuration in
                waitPatiently(&configuration)
                configuration.pool.backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(10))
                // The partitioned server answers nothing: these say so within a second. (Only
                // there: a sanitizer's stall must not time out the local server's calls.)
                if configuration.host == namespace.innerAddress {
                    configuration.responseTimeout = .seconds(1)
                    configuration.pool.connectTimeout = .seconds(1)
                }
            }
            var spareConfiguration = MemcachePool.Configuration(host: "127.0.0.1", port: spare.port, maxConnections: 2)
            waitPatiently(&spareConfiguration)
            let gutter = MemcachePool(configuration: spareConfiguration, group: group)
            // A cap far below the 300 s asked, and far above a sanitizer's stalls.
            let route = MemcacheGutterRoute(primary: set, gutter: gutter, maximumTTL: 120)
            let remotePool = set.pools[0]
            let up = try await poll(every: .milliseconds(50)) {
                (try? await remotePool.set("alive", to: ByteBuffer(string: "yes"))) != nil
            }
            try #require(up, "memcached answers inside the namespace")
            let key = try #require(
                (0..<100).map { "user:\($0)" }.first { set.serverIndex(for: try! MemcacheKey($0)) == 0 })

            try await namespace.partition()
            try await route.set(key, to: ByteBuffer(string: "during"), ttl: 300)
            #expect(try await route.get(key) == ByteBuffer(string: "during"))
            // In the gutter, for the cap at most.
            let item = try await gutter.send(.meta(.get(try MemcacheKey(key), flags: [.returnValue, .returnTTL])))
            guard case .meta(let meta) = item else {
                Issue.record("the gutter answered \(item)")
                return
            }
            #expect(meta.value == ByteBuffer(string: "during"))
            let left = Int(meta.token("t") ?? "") ?? -1
            #expect((1...120).contains(left))
            #expect(route.gutteredCalls >= 2)
            // The other server's keys never left it.
            let localKey = try #require(
                (0..<100).map { "user:\($0)" }.first { set.serverIndex(for: try! MemcacheKey($0)) == 1 })
            try await route.set(localKey, to: ByteBuffer(string: "here"))
            #expect(try await set.pools[1].get(localKey) == ByteBuffer(string: "here"))

            try await namespace.clear()
            // Once the probe answers, the key's own server takes its writes and reads again.
            // Reads included: with every test at once, a read right after the first good write
            // once still failed over to the gutter (which holds "during"); the ring server
            // takes the key back eventually, which is what this checks.
            let returned = try await poll(every: .milliseconds(100)) {
                guard (try? await route.set(key, to: ByteBuffer(string: "after"), ttl: 300)) != nil else {
                    return false
                }
                guard (try? await remotePool.get(key)) == ByteBuffer(string: "after") else { return false }
                // Read through the route from the ring server itself, not the gutter.
                let guttered = route.gutteredCalls
                return (try? await route.get(key)) == ByteBuffer(string: "after") && route.gutteredCalls == guttered
            }
            #expect(returned)
            await set.shutdown()
            await gutter.shutdown()
        }
        local.stop()
        spare.stop()
        try await group.shutdownGracefully()
    }
}
