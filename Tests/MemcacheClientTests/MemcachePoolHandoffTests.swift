import Channels
import MemcacheClient
import Pool
import TestSupport
import Testing

/// A pooled call that waits for a connection is its own waiter (`PooledMemcacheCall`, no
/// `PoolWaiter` beside it): when its loop cannot serve it, the pool hands the call itself to
/// another loop, which sends it there.
@Suite(
    "MemcachePool hands a waiting call to another loop",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct MemcachePoolHandoffTests {
    @Test("a get queued on a loop whose only connection is held is sent and answered on the other loop's connection")
    func waitingGetHandedOff() async throws {
        let fixture = try await MemcachePoolFixture {
            $0.pool.maxConnections = 2
            $0.pool.maxConnectionsPerLoop = 1
            $0.pool.maxConcurrentLeasesPerConnection = 1
            $0.pool.affinity = .preferred(after: .milliseconds(20))
        }
        let busy = fixture.group.loops[0]
        try await fixture.pool.set("handed", to: ByteBuffer(string: "off"))
        let holding = LockedValue(false)
        let release = LockedValue(false)
        // Loop 0's only connection stays leased until the get below has its answer. (A lease
        // from loop 0 can be handed to loop 1 when loop 0's connect is slow, as under a
        // sanitizer: then it leases again.)
        let holder = Task(executorPreference: busy) {
            for _ in 0..<100 {
                let held = try await fixture.pool.withConnection(idempotent: false) { connection in
                    guard connection.channel.eventLoop === busy else { return false }
                    holding.withLock { $0 = true }
                    while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
                    return true
                }
                if held { return }
            }
            Issue.record("never leased loop 0's connection")
        }
        #expect(try await poll { holding.withLock { $0 } })
        let value = try await Task(executorPreference: busy) { try await fixture.pool.get("handed") }.value
        #expect(value == ByteBuffer(string: "off"))
        let statistics = await fixture.pool.statistics()
        #expect(statistics.loops[0].leased == 1, "loop 0's connection was still held: the get went elsewhere")
        #expect(statistics.loops[1].waitedLeases >= 1, "\(statistics.loops[1])")
        release.withLock { $0 = true }
        try await holder.value
        try await fixture.stop()
    }
}
