import Channels
import Codecs
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

/// Callers setting and getting keys whose values name them (keys `fault-N`): returns the calls made, the
/// errors (by code) and how many values came back under the wrong key.
func mixedLoad(
    _ pool: MemcachePool, callers: Int, callsEach: Int, keys: Int
) async -> (calls: Int, errors: [String], wrong: Int) {
    await withTaskGroup(of: (Int, [String], Int).self) { tasks in
        for caller in 0..<callers {
            tasks.addTask {
                var random = SplitMix64(seed: UInt64(caller + 1))
                var errors: [String] = []
                var wrong = 0
                for _ in 0..<callsEach {
                    let key = "fault-\(random.next() % UInt64(keys))"
                    // Sizes that straddle segments and the reply buffer.
                    let value = ByteBuffer(string: key + "|" + String(repeating: "v", count: Int(random.next() % 600)))
                    do {
                        if random.next() % 3 == 0 {
                            try await pool.set(key, to: value)
                        } else if random.next() % 2 == 0, let found = try await pool.get(key) {
                            if !String(buffer: found).hasPrefix(key + "|") { wrong += 1 }
                        } else {
                            let many = try await pool.getMany([key, "fault-0", "fault-1"])
                            for (name, found) in many where !String(buffer: found).hasPrefix(name + "|") {
                                wrong += 1
                            }
                        }
                    } catch let error as MemcacheError {
                        errors.append("\(error.code)")
                    } catch {
                        errors.append("untyped: \(error)")
                    }
                }
                return (callsEach, errors, wrong)
            }
        }
        var total = (calls: 0, errors: [String](), wrong: 0)
        for await (calls, errors, wrong) in tasks {
            total.calls += calls
            total.errors += errors
            total.wrong += wrong
        }
        return total
    }
}

@Suite(
    "Network faults between the pool and a real memcached (a fault-injecting proxy)",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct NetworkFaultTests {
    @Test(
        "segments cut at random byte boundaries, delayed with jitter: every caller gets its own key's values, no error")
    func segmentsAndJitter() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let memcached = try await MemcachedServer(group: group)
        let proxy = try await FaultProxy.start(group: group, target: memcached.address)
        proxy.faults.withLock {
            $0.maximumSegment = 24
            $0.delay = .microseconds(200)
            $0.jitter = .milliseconds(3)
        }
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: proxy.port, maxConnections: 4)
        waitPatiently(&configuration)
        let pool = MemcachePool(configuration: configuration, group: group)
        let result = await mixedLoad(pool, callers: 8, callsEach: 40, keys: 50)
        #expect(result.wrong == 0)
        #expect(result.errors.isEmpty, "\(result.errors.prefix(5))")
        #expect(result.calls == 320)
        await pool.shutdown()
        try await proxy.close()
        memcached.stop()
        try await group.shutdownGracefully()
    }

    @Test(
        "a stall: calls fail with the typed timeout, none hangs and none gets a wrong value; lifted, the pool recovers by itself"
    )
    func stallThenRecover() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let memcached = try await MemcachedServer(group: group)
        let proxy = try await FaultProxy.start(group: group, target: memcached.address)
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: proxy.port, maxConnections: 4)
        waitPatiently(&configuration)
        configuration.responseTimeout = .milliseconds(300) // what this test checks
        configuration.pool.leaseTimeout = .seconds(2)
        let pool = MemcachePool(configuration: configuration, group: group)
        // Before the stall, 300 ms may not be enough on a stalled machine (a TSan run timed
        // this set out): retried until it is stored, bounded by `poll`.
        let stored = try await poll(every: .milliseconds(50)) {
            (try? await pool.set("fault-0", to: ByteBuffer(string: "fault-0|before"))) != nil
        }
        #expect(stored)

        proxy.faults.withLock { $0.stalled = true }
        let stalled = await mixedLoad(pool, callers: 8, callsEach: 5, keys: 10)
        #expect(stalled.wrong == 0)
        #expect(!stalled.errors.isEmpty)
        #expect(
            stalled.errors.allSatisfy { ["timeout", "pool exhausted", "connection closed"].contains($0) },
            "\(Set(stalled.errors))")

        proxy.faults.withLock { $0.stalled = false }
        // Recovered once a call succeeds again (bounded, a stalled machine may take a while).
        let recovered = try await poll(every: .milliseconds(50)) { (try? await pool.get("fault-0")) != nil }
        #expect(recovered, "the pool recovers after the stall")
        let after = await mixedLoad(pool, callers: 8, callsEach: 20, keys: 10)
        #expect(after.wrong == 0)
        await pool.shutdown()
        try await proxy.close()
        memcached.stop()
        try await group.shutdownGracefully()
    }
}
