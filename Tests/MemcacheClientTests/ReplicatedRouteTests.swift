import Channels
import Codecs
import Pool
import Synchronization
import TestSupport
import Testing

@testable import MemcacheClient

/// A set over `ports` that ejects at the third failure and probes after `retryAfter`; waits
/// patiently for everything else (a sanitizer's stalls are not failures).
private func ring(_ ports: [Int], group: EventLoopGroup, retryAfter: TimeAmount = .seconds(1)) -> MemcacheServerSet {
    var ejection = MemcacheEjectionPolicy()
    ejection.retryAfter = retryAfter
    ejection.probeTimeout = testPatience
    return MemcacheServerSet(
        servers: ports.map { .init(host: "127.0.0.1", port: $0) }, maxConnectionsPerServer: 4, group: group,
        failurePolicy: .failFast, ejection: ejection
    ) { configuration in
        waitPatiently(&configuration)
        // A dead server's connects fail fast (refused); no breaker pause once it is back.
        configuration.pool.backoff = Backoff(initial: .milliseconds(1), maximum: .milliseconds(10))
    }
}

/// What the callers of a load saw.
private final class ReadTally: Sendable {
    let done = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let wrong = Atomic<Int>(0)
}

@Suite("KetamaRing: the copies of a key")
struct KetamaReplicaTests {
    @Test("a key's copies are distinct servers, its own server first, as many as asked (at most every server)")
    func copiesOnTheRing() throws {
        let ring = KetamaRing(servers: (0..<5).map { ("10.0.0.\($0)", 11211) })
        for index in 0..<500 {
            let hash = MD5.firstWord(Array("key\(index)".utf8))
            let three = ring.serverIndices(forHash: hash, count: 3)
            #expect(three.count == 3)
            #expect(Set(three).count == 3)
            #expect(three[0] == ring.serverIndex(forHash: hash))
            #expect(ring.serverIndices(forHash: hash, count: 2) == Array(three.prefix(2)))
            #expect(ring.serverIndices(forHash: hash, count: 9).count == 5)
        }
        #expect(KetamaRing(servers: []).serverIndices(forHash: 7, count: 2).isEmpty)
    }
}

@Suite(
    "MemcacheReplicatedRoute against real memcached",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct ReplicatedRouteTests {
    @Test(
        "3 servers, 2 copies: one SIGKILLed under 10,000 concurrent callers costs 0 reads and 0 wrong values; writes report the dead copy; after a restart, reads and write-backs return to it"
    )
    func serverKilledUnderLoad() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var started: [MemcachedServer] = []
        for _ in 0..<3 { started.append(try await MemcachedServer(group: group)) }
        let memcached = started
        let set = ring(memcached.map(\.port), group: group)
        var configuration = MemcacheReplicatedRoute.Configuration()
        configuration.failoverOnMiss = true
        configuration.writeBackTTL = 3600
        let route = MemcacheReplicatedRoute(servers: set, copies: 2, configuration: configuration)

        let keys = try (0..<1000).map { try MemcacheKey("item:\($0)") }
        for (index, key) in keys.enumerated() { try await route.set(key, to: ByteBuffer(string: "value \(index)")) }
        // Two copies of each: 2,000 items over the three servers.
        var stored = 0
        for pool in set.pools { stored += Int(try await pool.stats()["curr_items"] ?? "") ?? 0 }
        #expect(stored == 2000)

        // 10,000 callers at once, 5 gets each; the second server dies once 10,000 gets are done.
        let victim = 1
        let victimAddress = set.servers[victim].address
        let tally = ReadTally()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                _ = try await poll(every: .milliseconds(1)) { tally.done.load(ordering: .relaxed) >= 10_000 }
                memcached[victim].stop()
            }
            for caller in 0..<10_000 {
                tasks.addTask {
                    for round in 0..<5 {
                        let index = (caller * 7 + round * 131) % keys.count
                        do {
                            let value = try await route.get(keys[index])
                            if value != ByteBuffer(string: "value \(index)") { tally.wrong.add(1, ordering: .relaxed) }
                        } catch {
                            tally.failed.add(1, ordering: .relaxed)
                        }
                        tally.done.add(1, ordering: .relaxed)
                    }
                }
            }
            try await tasks.waitForAll()
        }
        #expect(tally.failed.load(ordering: .relaxed) == 0)
        #expect(tally.wrong.load(ordering: .relaxed) == 0)
        // The death was met during the run (not after it): reads failed over, the server is out.
        #expect(route.statistics().failovers > 0)
        let victimState = await set.statistics().servers[victim].state
        #expect(victimState != .active)

        // A write of a key with a copy on the dead server lands on the other and says so.
        let shared = try #require(keys.first { (try? route.copyNames(of: $0).contains(victimAddress)) == true })
        let write = try await route.write(
            .store(MemcacheStore(mode: .set, key: shared, value: ByteBuffer(string: "new"))))
        #expect(Array(write.failed.keys) == [victimAddress])
        #expect(write.written.count == 1)
        #expect(try await route.get(shared) == ByteBuffer(string: "new"))
        #expect(route.statistics().partialWrites >= 1)

        // Restarted (empty) on the same port: the set's probe brings it back.
        let restarted = try await MemcachedServer(port: memcached[victim].port, group: group)
        let back = try await poll(every: .milliseconds(50)) {
            _ = try? await route.get(keys[0])
            return await set.statistics().servers[victim].state == .active
        }
        #expect(back)
        // Reads come back to it: a key whose first copy it holds misses there, is found on the
        // other copy and written back; the next read of it is a hit on the restarted server.
        let owned = try #require(
            keys.firstIndex { $0 != shared && (try? route.copyNames(of: $0).first) == victimAddress })
        #expect(try await route.get(keys[owned]) == ByteBuffer(string: "value \(owned)"))
        let victimPool = set.pools[victim]
        let hitsBefore = Int(try await victimPool.stats()["get_hits"] ?? "") ?? -1
        #expect(try await route.get(keys[owned]) == ByteBuffer(string: "value \(owned)"))
        let hitsAfter = Int(try await victimPool.stats()["get_hits"] ?? "") ?? -1
        #expect(hitsAfter == hitsBefore + 1)

        // Reading every key once fills the restarted server with every key it is asked first
        // for (the keys it holds as a second copy are read from their first, which has them).
        for (index, key) in keys.enumerated() {
            #expect(
                try await route.get(key)
                    == ByteBuffer(string: index == keys.firstIndex(of: shared) ? "new" : "value \(index)"))
        }
        let firstOnIt = keys.filter { (try? route.copyNames(of: $0).first) == victimAddress }
        let refilled = try await victimPool.getMany(firstOnIt)
        #expect(refilled.count == firstOnIt.count)
        #expect(route.statistics().writeBacks == firstOnIt.count)

        await set.shutdown()
        restarted.stop()
        for server in memcached { server.stop() }
        try await group.shutdownGracefully()
    }

    @Test(
        "a write below its quorum is quorumNotMet and names the copy that failed; one above it succeeds and reports it")
    func quorum() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let live = try await MemcachedServer(group: group)
        let deadPort = try freePort()
        func pool(_ port: Int) -> MemcachePool {
            var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: port, maxConnections: 2)
            waitPatiently(&configuration)
            return MemcachePool(configuration: configuration, group: group)
        }
        let copies = [pool(live.port), pool(deadPort)]
        var strict = MemcacheReplicatedRoute.Configuration()
        strict.writeQuorum = 2
        let both = MemcacheReplicatedRoute(copies: copies, names: ["live", "dead"], configuration: strict)
        let error = await #expect(throws: MemcacheError.self) { try await both.set("k", to: ByteBuffer(string: "v")) }
        #expect(error?.code == .quorumNotMet)
        #expect(error?.message.contains("dead") == true)
        // The live copy kept what it took, and reads find it there.
        #expect(try await both.get("k") == ByteBuffer(string: "v"))
        #expect(both.statistics().failedWrites == 1)

        let lenient = MemcacheReplicatedRoute(copies: copies, names: ["live", "dead"])
        let write = try await lenient.write(
            .store(MemcacheStore(mode: .set, key: "k2", value: ByteBuffer(string: "w"))))
        #expect(write.written == ["live"])
        #expect(write.failed["dead"]?.code == .connectFailed)

        // Multi-key writes and reads: per key, through the quorum and the failover.
        let failures = try await both.setMany(["a": ByteBuffer(string: "1"), "b": ByteBuffer(string: "2")])
        #expect(failures.count == 2)
        #expect(failures.values.allSatisfy { $0.code == .quorumNotMet })
        #expect(try await lenient.setMany(["c": ByteBuffer(string: "3")]).isEmpty)
        // The dead copy first: its failure sends the multi-get on to the live one.
        let reversed = MemcacheReplicatedRoute(copies: copies.reversed(), names: ["dead", "live"])
        let found = try await reversed.getMany(["a", "b", "c", "missing"])
        #expect(found == ["a": ByteBuffer(string: "1"), "b": ByteBuffer(string: "2"), "c": ByteBuffer(string: "3")])
        #expect(try await reversed.get("k2") == ByteBuffer(string: "w"))
        #expect(reversed.statistics().failovers >= 2)

        for copy in copies { await copy.shutdown() }
        live.stop()
        try await group.shutdownGracefully()
    }

    @Test(
        "every everyday command through a replicated ring, meta and text: both copies hold each write",
        arguments: [MemcacheProtocol.meta, .text])
    func everyCommand(wireProtocol: MemcacheProtocol) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var memcached: [MemcachedServer] = []
        for _ in 0..<3 { memcached.append(try await MemcachedServer(group: group)) }
        let set = MemcacheServerSet(
            servers: memcached.map { .init(host: "127.0.0.1", port: $0.port) }, group: group
        ) { configuration in
            waitPatiently(&configuration)
            configuration.wireProtocol = wireProtocol
        }
        let route = MemcacheReplicatedRoute(servers: set, copies: 2)
        let keys = (0..<30).map { "key-\($0)" }
        if wireProtocol == .meta {
            let failures = try await route.setMany(
                Dictionary(uniqueKeysWithValues: keys.map { ($0, ByteBuffer(string: $0)) }))
            #expect(failures.isEmpty)
        } else {
            for key in keys { try await route.set(key, to: ByteBuffer(string: key)) }
        }
        #expect(try await route.getMany(keys).count == keys.count)
        let items = try await route.send(.get(keys: keys.map { try MemcacheKey($0) }, withCAS: false))
        guard case .values(let values) = items else {
            Issue.record("multi-get got \(items)")
            return
        }
        #expect(values.map { String(decoding: $0.key, as: UTF8.self) } == keys)
        #expect(try await route.add("key-0", value: ByteBuffer(string: "x")) == false)
        #expect(try await route.increment("counter", by: 1) == nil)
        try await route.set("counter", to: ByteBuffer(string: "10"))
        #expect(try await route.increment("counter", by: 5) == 15)
        #expect(try await route.delete("key-1") == true)
        #expect(try await route.get("key-1") == nil)
        // Each write reached both copies: 29 keys and the counter, twice.
        var stored = 0
        for pool in set.pools { stored += Int(try await pool.stats()["curr_items"] ?? "") ?? 0 }
        #expect(stored == 2 * 30)
        try await route.flushAll()
        #expect(try await route.getMany(keys).isEmpty)
        await set.shutdown()
        for server in memcached { server.stop() }
        try await group.shutdownGracefully()
    }
}
