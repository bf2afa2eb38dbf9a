import Channels
import Codecs
import TestSupport
import Testing

@testable import Pool

/// The pool's behaviours on real loops and sockets: handoff between loops, lifetime under
/// load, idle closes, the minimum, the clean-connection check, shutdown, the observer.
@Suite("ConnectionPool behaviours on real loops")
struct ConnectionPoolBehaviourTests {
    @Test("a waiter on a saturated loop is handed to a loop that can serve it, and served before its deadline")
    func handoff() async throws {
        let fixture = try await EchoPoolFixture {
            $0.maxConnections = 2
            $0.maxConnectionsPerLoop = 1
            $0.affinity = .preferred(after: .milliseconds(20))
        }
        let (busy, idle) = (fixture.group.loops[0], fixture.group.loops[1])
        let release = LockedValue(false)
        // Loop 0's only connection stays leased until the end. (A first lease can be handed
        // to loop 1 when loop 0's connect outlasts the 20 ms affinity, as on a machine stalled
        // by a sanitizer: then it leases again, and loop 0's connection is ready.)
        let holder = Task(executorPreference: busy) {
            var lease = try await fixture.pool.lease()
            for _ in 0..<100 where lease.connection.channel.eventLoop !== busy {
                lease.release()
                lease = try await fixture.pool.lease()
            }
            while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
            lease.release()
        }
        #expect(try await poll { await fixture.pool.statistics().loops[0].leased == 1 })
        let servedOn = try await Task(executorPreference: busy) {
            try await fixture.pool.withConnection(timeout: testPatience) { connection in
                connection.channel.eventLoop === idle
            }
        }.value
        #expect(servedOn, "served by loop 1's connection while loop 0's was still leased")
        #expect(await fixture.pool.statistics().loops[1].waitedLeases >= 1)
        release.withLock { $0 = true }
        try await holder.value
        try await fixture.stop()
    }

    @Test("under continuous shared load, connections past maxLifetime retire and are replaced")
    func lifetimeUnderLoad() async throws {
        let fixture = try await EchoPoolFixture(loops: 1) {
            $0.maxConnections = 2
            $0.maxConcurrentLeasesPerConnection = 4
            $0.maxLifetime = .milliseconds(100)
            $0.idleTimeout = .milliseconds(100) // the maintenance tick, every 100 ms
            $0.minConnectionsPerLoop = 1
        }
        let stop = LockedValue(false)
        // Six callers never let both connections go idle: the old rule (close an expired
        // connection when its lease count reaches zero) would never retire them.
        try await withThrowingTaskGroup(of: Void.self) { callers in
            for _ in 0..<6 {
                callers.addTask(executorPreference: fixture.group.loops[0]) {
                    for _ in 0..<100_000 where !stop.withLock({ $0 }) {
                        try await fixture.pool.withConnection { connection in
                            #expect(connection.channel.isActive)
                            try await Task.sleep(for: .milliseconds(1))
                        }
                    }
                }
            }
            #expect(try await poll { await fixture.pool.statistics().total.closed >= 3 })
            stop.withLock { $0 = true }
            try await callers.waitForAll()
        }
        let statistics = await fixture.pool.statistics().total
        #expect(statistics.created >= 4, "\(statistics)")
        try await fixture.stop()
    }

    @Test("idle connections above the minimum close after idleTimeout; the minimum is kept, also after connections die")
    func idleAndMinimum() async throws {
        let fixture = try await EchoPoolFixture(loops: 1) {
            $0.maxConnections = 3
            $0.minConnectionsPerLoop = 1
            $0.idleTimeout = .milliseconds(100)
        }
        // The minimum opens at start.
        #expect(try await poll { await fixture.pool.statistics().total.open == 1 })
        // Three callers at once: three connections; once idle, two close and one stays.
        let first = try await fixture.pool.lease()
        let second = try await fixture.pool.lease()
        let third = try await fixture.pool.lease()
        #expect(await fixture.pool.statistics().total.open == 3)
        first.release()
        second.release()
        third.release()
        #expect(try await poll { await fixture.pool.statistics().total.closed >= 2 })
        #expect(await fixture.pool.statistics().total.open == 1)
        // The kept one dies: a replacement opens.
        let victim = try await fixture.pool.lease()
        try await victim.connection.channel.close().get()
        victim.release()
        #expect(
            try await poll {
                let total = await fixture.pool.statistics().total
                return total.open == 1 && total.closed >= 3
            })
        try await fixture.stop()
    }

    @Test("shutdown with a deadline lets leased work finish; a second shutdown waits for the first")
    func gracefulShutdown() async throws {
        let fixture = try await EchoPoolFixture(loops: 1) { $0.maxConnections = 1 }
        let lease = try await fixture.pool.lease()
        let released = LockedValue(false)
        let first = Task {
            await fixture.pool.shutdown(deadline: testPatience)
            return released.withLock { $0 }
        }
        // New leases are refused at once while the leased work goes on.
        #expect(
            try await poll {
                do {
                    _ = try await fixture.pool.lease(timeout: .seconds(1))
                    return false
                } catch let error as PoolError {
                    return error.code == .shutdown
                }
            })
        // A second call, with no grace of its own, waits for the first one's.
        let second = Task {
            await fixture.pool.shutdown(deadline: .zero)
            return released.withLock { $0 }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(lease.connection.channel.isActive, "the leased connection stays open until released")
        released.withLock { $0 = true }
        lease.release()
        #expect(await first.value, "the first shutdown returned only after the release")
        #expect(await second.value, "the second shutdown waited for the first")
        try await fixture.server.close()
        try await fixture.group.shutdownGracefully()
    }

    @Test("the observer receives each kind of event")
    func observer() async throws {
        let kinds = LockedValue<Set<String>>([])
        let observer: @Sendable (PoolEvent) -> Void = { event in
            let kind: String
            switch event {
            case .connected: kind = "connected"
            case .closed: kind = "closed"
            case .connectFailed: kind = "connectFailed"
            case .leaseFailed(_, let code): kind = "leaseFailed \(code)"
            }
            kinds.withLock { _ = $0.insert(kind) }
        }
        let fixture = try await EchoPoolFixture(loops: 1, observer: observer) { $0.maxConnections = 1 }
        try await fixture.pool.withConnection { _ in }
        await fixture.pool.shutdown()
        try await fixture.server.close()

        let refused = try ReservedPort()
        let down = ConnectionPool<EchoConnection>(
            group: fixture.group, configuration: .init(maxConnections: 1), observer: observer
        ) { loop in
            ClientBootstrap(loop: loop).connect(host: "127.0.0.1", port: refused.port).map {
                EchoConnection(channel: $0)
            }
        }
        await #expect(throws: PoolError.self) { try await down.withConnection { _ in } }
        await down.shutdown()
        #expect(kinds.withLock { $0 } == ["connected", "closed", "connectFailed", "leaseFailed connect failed"])
        try await fixture.group.shutdownGracefully()
    }
}
