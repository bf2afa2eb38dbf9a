import Channels
import Codecs
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

/// The errors a network fault may cause: typed, and of these kinds only.
private let faultErrors: Set<String> = ["timeout", "connection closed", "connect failed", "pool exhausted"]

@Suite(
    "Real packet loss and a partition, memcached in its own network namespace",
    .enabled(
        if: NetworkNamespace.unavailableReason == nil && MemcachedServer.binary != nil,
        "network namespaces cannot be made here (they need root, iproute2 and nftables) or memcached is missing"))
struct NamespaceFaultTests {
    @Test(
        "5 % loss each way: no wrong value, only typed errors; a partition: typed errors, no hang; healed: the pool recovers"
    )
    func lossAndPartition() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        try await NetworkNamespace.with { namespace in
            let binary = try #require(MemcachedServer.binary)
            let memcached = try namespace.spawn(
                binary, ["-l", namespace.innerAddress, "-p", "11211", "-U", "0", "-t", "2", "-u", "root"])
            defer { memcached.kill() }
            var configuration = MemcachePool.Configuration(host: namespace.innerAddress, port: 11211, maxConnections: 4)
            waitPatiently(&configuration)
            // What this test checks: calls end, typed, while the network drops everything.
            configuration.responseTimeout = .seconds(1)
            configuration.pool.leaseTimeout = .seconds(2)
            configuration.pool.connectTimeout = .seconds(1)
            let pool = MemcachePool(configuration: configuration, group: group)
            let up = try await poll(every: .milliseconds(50)) {
                (try? await pool.set("fault-0", to: ByteBuffer(string: "fault-0|"))) != nil
            }
            try #require(up, "memcached answers inside the namespace")

            try await namespace.loss(percent: 5)
            let lossy = await mixedLoad(pool, callers: 16, callsEach: 40, keys: 50)
            #expect(lossy.wrong == 0)
            #expect(Set(lossy.errors).isSubset(of: faultErrors), "\(Set(lossy.errors))")
            #expect(
                lossy.errors.count < lossy.calls / 2,
                "TCP carries most calls through 5 % loss: \(lossy.errors.count) of \(lossy.calls) failed")

            try await namespace.partition()
            let cut = await mixedLoad(pool, callers: 8, callsEach: 4, keys: 50)
            #expect(cut.wrong == 0)
            #expect(cut.errors.count == cut.calls, "nothing gets through a partition")
            #expect(Set(cut.errors).isSubset(of: faultErrors), "\(Set(cut.errors))")

            try await namespace.clear()
            let healed = try await poll(every: .milliseconds(100)) { (try? await pool.get("fault-0")) != nil }
            #expect(healed, "the pool recovers once the partition heals")
            let after = await mixedLoad(pool, callers: 8, callsEach: 20, keys: 50)
            #expect(after.wrong == 0)

            await pool.shutdown()
        }
        try await group.shutdownGracefully()
    }
}
