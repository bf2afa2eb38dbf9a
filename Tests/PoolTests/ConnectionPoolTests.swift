import Channels
import TestSupport
import Testing

@testable import Pool

/// A pooled connection to the in-process echo server.
final class EchoConnection: PoolableConnection {
    let channel: any Channel
    init(channel: any Channel) { self.channel = channel }
}

/// The generic pool over real loopback connections to an echo server built with our
/// ServerBootstrap (any server will do: the pool never speaks the protocol).
struct EchoPoolFixture: Sendable {
    let group: EventLoopGroup
    let server: ListeningServer
    let pool: ConnectionPool<EchoConnection>

    init(
        loops: Int = 2, observer: (@Sendable (PoolEvent) -> Void)? = nil,
        configure: (inout ConnectionPoolConfiguration) -> Void
    ) async throws {
        self.group = try EventLoopGroup(loopCount: loops)
        self.server = try await startEchoServer(group: self.group)
        var configuration = ConnectionPoolConfiguration(maxConnections: 4)
        // Tests that wait on purpose must not hit the 10 s default when a sanitizer run on 2
        // cores stalls them; tests of the lease timeout set their own.
        configuration.leaseTimeout = testPatience
        configuration.connectTimeout = testPatience
        // Likewise the idle timeout: a stall past the 60 s default closed an idle connection
        // a test was about to count.
        configuration.idleTimeout = .seconds(600)
        configure(&configuration)
        let address = self.server.localAddress
        self.pool = ConnectionPool(group: self.group, configuration: configuration, observer: observer) { loop in
            ClientBootstrap(loop: loop).connect(to: address).map { EchoConnection(channel: $0) }
        }
    }

    func stop() async throws {
        await self.pool.shutdown()
        try await self.server.close()
        try await self.group.shutdownGracefully()
    }
}

@Suite("ConnectionPool over real sockets")
struct ConnectionPoolTests {
    @Test("callers on loop L are served by connections on L, with no thread hop")
    func affinity() async throws {
        let fixture = try await EchoPoolFixture { $0.affinity = .strict }
        for loop in fixture.group.loops {
            try await withTaskExecutorPreference(loop) {
                for _ in 0..<20 {
                    let lease = try await fixture.pool.lease()
                    // Still on the loop's thread right after the lease: no hop happened.
                    #expect(loop.inEventLoop)
                    #expect(lease.connection.channel.eventLoop === loop)
                    lease.release()
                }
            }
        }
        let statistics = await fixture.pool.statistics()
        #expect(statistics.loops.map(\.open) == [1, 1])
        try await fixture.stop()
    }

    @Test("budget moves between loops: a starved loop gets the connection another loop releases")
    func budgetRebalancing() async throws {
        let fixture = try await EchoPoolFixture {
            $0.maxConnections = 2
            $0.maxConnectionsPerLoop = 2
            $0.affinity = .strict
        }
        let (busy, starved) = (fixture.group.loops[0], fixture.group.loops[1])
        let step = LockedValue(0)
        // Loop 0 takes the whole budget, gives one connection back at step 1, the other at step 2.
        let holder = Task(executorPreference: busy) {
            let first = try await fixture.pool.lease()
            let second = try await fixture.pool.lease()
            while step.withLock({ $0 }) < 1 { try await Task.sleep(for: .milliseconds(1)) }
            first.release()
            while step.withLock({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(1)) }
            second.release()
        }
        #expect(try await poll(every: .milliseconds(2)) { await fixture.pool.statistics().loops[0].leased >= 2 })
        let waiting = Task(executorPreference: starved) {
            let lease = try await fixture.pool.lease(timeout: testPatience)
            let onStarvedLoop = lease.connection.channel.eventLoop === starved
            lease.release()
            return onStarvedLoop
        }
        #expect(try await poll(every: .milliseconds(2)) { await fixture.pool.statistics().loops[1].waiting >= 1 })
        // Idle on loop 0 while loop 1 starves: that connection is closed and its budget moves.
        step.withLock { $0 = 1 }
        #expect(try await waiting.value)
        let statistics = await fixture.pool.statistics()
        #expect(statistics.loops[0].open == 1 && statistics.loops[1].open == 1)
        step.withLock { $0 = 2 }
        try await holder.value
        try await fixture.stop()
    }

    @Test("waiters on one loop are served first in, first out")
    func fifoPerLoop() async throws {
        let fixture = try await EchoPoolFixture(loops: 1) {
            $0.maxConnections = 1
            $0.affinity = .strict
        }
        let loop = fixture.group.loops[0]
        let held = try await fixture.pool.lease()
        let enqueued = LockedValue<[Int]>([])
        let served = LockedValue<[Int]>([])
        let callers = Task {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for index in 0..<50 {
                    tasks.addTask(executorPreference: loop) {
                        // Recorded in the same loop job that queues the lease, so the two orders are comparable.
                        enqueued.withLock { $0.append(index) }
                        let lease = try await fixture.pool.lease()
                        served.withLock { $0.append(index) }
                        lease.release()
                    }
                }
                try await tasks.waitForAll()
            }
        }
        #expect(try await poll(every: .milliseconds(5)) { await fixture.pool.statistics().total.waiting >= 50 })
        held.release()
        try await callers.value
        #expect(served.withLock { $0 } == enqueued.withLock { $0 })
        try await fixture.stop()
    }

    @Test("a lease that finds no free connection in time fails with leaseTimeout")
    func leaseTimeout() async throws {
        let fixture = try await EchoPoolFixture(loops: 1) { $0.maxConnections = 1 }
        let held = try await fixture.pool.lease()
        await #expect(throws: PoolError.self) {
            do { _ = try await fixture.pool.lease(timeout: .milliseconds(50)) } catch let error as PoolError {
                #expect(error.code == .leaseTimeout)
                throw error
            }
        }
        held.release()
        let statistics = await fixture.pool.statistics()
        #expect(statistics.total.waiting == 0)
        try await fixture.stop()
    }

    @Test("past maxWaiters a lease fails at once with tooManyWaiters")
    func tooManyWaiters() async throws {
        let fixture = try await EchoPoolFixture(loops: 1) {
            $0.maxConnections = 1
            $0.maxWaitersPerLoop = 1
        }
        let held = try await fixture.pool.lease()
        let queued = Task { try await fixture.pool.withConnection { _ in } }
        #expect(try await poll(every: .milliseconds(2)) { await fixture.pool.statistics().total.waiting >= 1 })
        do {
            _ = try await fixture.pool.lease()
            Issue.record("the lease should have been refused")
        } catch let error as PoolError {
            #expect(error.code == .tooManyWaiters)
        }
        held.release()
        try await queued.value
        try await fixture.stop()
    }

    @Test("a cancelled waiter leaves the queue at once with .cancelled")
    func cancellation() async throws {
        let fixture = try await EchoPoolFixture(loops: 1) {
            $0.maxConnections = 1
            $0.leaseTimeout = testPatience // only the cancellation may end the wait
        }
        let held = try await fixture.pool.lease()
        let waiter = Task { try await fixture.pool.withConnection { _ in } }
        #expect(try await poll(every: .milliseconds(2)) { await fixture.pool.statistics().total.waiting >= 1 })
        waiter.cancel()
        do {
            try await waiter.value
            Issue.record("the cancelled lease should throw")
        } catch let error as PoolError {
            #expect(error.code == .cancelled)
        }
        #expect(await fixture.pool.statistics().total.waiting == 0)
        held.release()
        try await fixture.stop()
    }

    @Test("a pool dropped without shutdown frees its sub-pools: they and the coordinator do not keep each other")
    func droppedPoolFreesItsLoopPools() async throws {
        final class Watch: @unchecked Sendable { // SAFETY: written before the polls read it
            weak var loopPool: LoopPool<EchoConnection>?
        }
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await startEchoServer(group: group)
        let address = server.localAddress
        let watches = [Watch(), Watch()]
        do {
            var configuration = ConnectionPoolConfiguration(maxConnections: 2)
            configuration.connectTimeout = testPatience
            configuration.leaseTimeout = testPatience
            let pool = ConnectionPool<EchoConnection>(group: group, configuration: configuration) { loop in
                ClientBootstrap(loop: loop).connect(to: address).map { EchoConnection(channel: $0) }
            }
            for (watch, loopPool) in zip(watches, pool.loopPools) { watch.loopPool = loopPool }
            try await pool.withConnection { connection in #expect(connection.channel.isActive) }
        }
        #expect(try await poll { watches.allSatisfy { $0.loopPool == nil } })
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("a closure that throws returns its connection; a closed one is replaced; counts stay exact")
    func throwingClosures() async throws {
        struct Boom: Error {}
        let fixture = try await EchoPoolFixture(loops: 1) { $0.maxConnections = 1 }
        await #expect(throws: Boom.self) { try await fixture.pool.withConnection { _ in throw Boom() } }
        var statistics = await fixture.pool.statistics().total
        #expect(statistics.idle == 1 && statistics.leased == 0 && statistics.closed == 0)
        // A caller that breaks its connection: the pool closes it rather than reuse it.
        await #expect(throws: Boom.self) {
            try await fixture.pool.withConnection { connection in
                try await connection.channel.close().get()
                throw Boom()
            }
        }
        try await fixture.pool.withConnection { connection in #expect(connection.channel.isActive) }
        statistics = await fixture.pool.statistics().total
        #expect(statistics.open == 1 && statistics.closed == 1 && statistics.created == 2)
        try await fixture.stop()
    }

    @Test("a server that is down fails leases fast with connectFailed; the pool recovers when it is back")
    func serverDown() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let reserved = try ReservedPort()
        let port = reserved.port
        var configuration = ConnectionPoolConfiguration(maxConnections: 4)
        configuration.leaseTimeout = .seconds(30)
        configuration.backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(200))
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        let pool = ConnectionPool<EchoConnection>(group: group, configuration: configuration) { loop in
            ClientBootstrap(loop: loop).connect(to: address).map { EchoConnection(channel: $0) }
        }
        let started = Deadline.now()
        for _ in 0..<20 {
            do {
                try await pool.withConnection { _ in }
                Issue.record("nothing listens: the lease must fail")
            } catch let error as PoolError {
                #expect(error.code == .connectFailed)
                #expect(error.cause != nil)
            }
        }
        // Failing fast: with a 30 s lease timeout, a caller that had waited would report
        // `.leaseTimeout` instead. And the breaker let only a few probes knock, not one
        // connect per lease.
        let failures = await pool.statistics().total.connectFailures
        // At most one probe per backoff interval (50 ms, less 3 % jitter): a normal run makes
        // the 20 leases within one interval; a sanitizer stall can spread them out.
        let elapsed = Deadline.now() - started
        let allowed = 2 + Int(elapsed.nanoseconds / 48_000_000)
        #expect(failures >= 1 && failures <= allowed, "\(failures) connect attempts in \(elapsed)")
        reserved.release()
        // The reserved port lies below the ephemeral range, so neither the pool's probes nor
        // other tests' connects can hold it; the bounded retry only covers a slow release.
        var bound: ListeningServer?
        for _ in 0..<100 where bound == nil {
            bound = try? await ServerBootstrap(group: group)
                .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
                .bind(host: "127.0.0.1", port: port)
            if bound == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let server = try #require(bound)
        var recovered = false
        for _ in 0..<200 where !recovered {
            recovered = (try? await pool.withConnection { $0.channel.isActive }) ?? false
            if !recovered { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(recovered)
        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("100,000 lease/release cycles with random failures and cancellations leave exact counts and no waiter")
    func noLeaks() async throws {
        struct Boom: Error {}
        let fixture = try await EchoPoolFixture { $0.maxConnections = 6 }
        let cycles = 100_000
        let workers = 32
        let breaks = LockedValue(0)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<workers {
                let loop = fixture.group.loops[worker % 2]
                tasks.addTask(executorPreference: loop) {
                    var random = SplitMix64(seed: UInt64(worker + 1))
                    for _ in 0..<(cycles / workers) {
                        let roll = random.next() % 1000
                        if roll < 5 {
                            // Cancelled while (maybe) waiting.
                            let task = Task(executorPreference: loop) { try await fixture.pool.withConnection { _ in } }
                            task.cancel()
                            _ = try? await task.value
                        } else if roll < 10 {
                            // The connection dies in the caller's hands.
                            breaks.withLock { $0 += 1 }
                            _ = try? await fixture.pool.withConnection { connection in
                                try await connection.channel.close().get()
                                throw Boom()
                            }
                        } else if roll < 60 {
                            _ = try? await fixture.pool.withConnection { _ in throw Boom() }
                        } else {
                            try await fixture.pool.withConnection { _ in }
                        }
                    }
                }
            }
            try await tasks.waitForAll()
        }
        // Closes travel through closeFuture callbacks: let them land.
        var statistics = await fixture.pool.statistics().total
        for _ in 0..<100 where statistics.created - statistics.closed != statistics.open {
            try await Task.sleep(for: .milliseconds(10))
            statistics = await fixture.pool.statistics().total
        }
        #expect(statistics.waiting == 0)
        #expect(statistics.leased == 0 && statistics.activeLeases == 0)
        #expect(statistics.created - statistics.closed == statistics.idle + statistics.leased)
        #expect(statistics.closed >= breaks.withLock { $0 })
        #expect(statistics.open <= 6)
        // The kernel agrees: as many client sockets to the server as the pool has open.
        let port = fixture.server.localAddress.port
        let listeners = fixture.server.listeners.count
        // Each pooled connection is two sockets here (client end and server end). The server's
        // ends of closed connections go once its loop reads their end of file: on a loaded
        // machine, a moment later.
        let settled = try await poll(every: .milliseconds(20)) {
            openSocketCount(port: port) == listeners + 2 * statistics.open
        }
        #expect(
            settled,
            "\(openSocketCount(port: port)) sockets on port \(port), \(listeners) listeners and \(statistics.open) pooled connections"
        )
        try await fixture.stop()
    }
}
