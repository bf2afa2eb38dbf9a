import Channels
import Codecs
import CoreMetrics
import Logging
import MemcacheServer
import MetricsTestKit
import ServiceLifecycle
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

/// What the pool tells an operator: swift-metrics instruments, swift-log messages, and its
/// life as a swift-service-lifecycle `Service`. Each test gives its pool a metrics factory
/// and logger of its own, so tests running at once do not see each other's.
@Suite("Metrics, logging and lifecycle", .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct ObservabilityTests {
    @Test("metrics no one collects are not made: reportsMetrics off, or swift-metrics' no-op backend")
    func noBackendNoMetrics() {
        var configuration = ConnectionPoolConfiguration(maxConnections: 1)
        // The tests never bootstrap MetricsSystem: the global factory is the no-op one.
        #expect(configuration.metricsBackend == nil)
        configuration.metricsFactory = NOOPMetricsHandler.instance
        #expect(configuration.metricsBackend == nil)
        let metrics = TestMetrics()
        configuration.metricsFactory = metrics
        #expect(configuration.metricsBackend as? TestMetrics === metrics)
        configuration.reportsMetrics = false
        #expect(configuration.metricsBackend == nil)
    }

    @Test("a known workload: operations by command and outcome, lease timings, a lease timeout, a server kill")
    func metricsAfterKnownWorkload() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let memcached = try await MemcachedServer(group: group)
        let metrics = TestMetrics()
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: memcached.port, maxConnections: 1)
        waitPatiently(&configuration)
        configuration.pool.maxConcurrentLeasesPerConnection = 1
        configuration.pool.leaseTimeout = .milliseconds(300)
        configuration.pool.metricsFactory = metrics
        configuration.pool.name = "cache"
        let pool = MemcachePool(configuration: configuration, group: group)

        // 3 sets, then 5 gets: 3 hits, 2 misses.
        for i in 0..<3 { try await pool.set("k\(i)", to: ByteBuffer(string: "v\(i)")) }
        for i in 0..<5 { _ = try await pool.get("k\(i)") }

        // A lease timeout: the one connection is held while a get waits for it.
        let held = try await pool.connections.lease()
        await #expect { try await pool.get("k0") } throws: { ($0 as? MemcacheError)?.code == .poolExhausted }
        held.release()

        let server = [
            ("db.system.name", "memcached"), ("server.address", "127.0.0.1"), ("server.port", "\(memcached.port)"),
        ]
        // The operations' timer counts them by command and outcome.
        func operations(_ command: String, _ outcome: String) -> [Int64] {
            metrics.timers(
                label: "db.client.operation.duration",
                dimensions: server + [("db.operation.name", command), ("outcome", outcome)]
            )
            .flatMap(\.values)
        }
        #expect(operations("ms", "stored").count == 3)
        #expect(operations("mg", "hit").count == 3)
        #expect(operations("mg", "miss").count == 2)
        #expect(operations("mg", "pool_exhausted").count == 1)
        #expect(operations("ms", "stored").allSatisfy { $0 > 0 })
        #expect(metrics.timers(label: "db.client.operation.duration").count == 4, "only the series that occurred")

        let loop = [("db.client.connection.pool.name", "cache"), ("loop", "0")]
        // Every lease that got a connection waited (0 when served at once) and was used.
        let leases = 3 + 5 + 1 // the sets, the gets, the held lease
        #expect(try metrics.expectTimer("db.client.connection.wait_time", loop).values.count == leases)
        // A release reaches the loop a moment after its caller resumed.
        let used = try metrics.expectTimer("db.client.connection.use_time", loop)
        #expect(try await poll { used.values.count == leases }, "\(used.values.count)")
        #expect(try metrics.expectTimer("db.client.connection.create_time", loop).values.count == 1)
        #expect(try metrics.expectCounter("db.client.connection.timeouts", loop).totalValue == 1)
        #expect(try metrics.expectGauge("db.client.connection.max", loop).lastValue == 1)
        // The gauges follow the maintenance tick (about once a second).
        let idle = try metrics.expectGauge(
            "db.client.connection.count", loop + [("db.client.connection.state", "idle")])
        #expect(try await poll { idle.lastValue == 1 })
        #expect(
            try metrics.expectGauge("db.client.connection.count", loop + [("db.client.connection.state", "used")])
                .lastValue == 0)
        #expect(try metrics.expectGauge("db.client.connection.pending_requests", loop).lastValue == 0)

        // The server dies: calls fail, each counted with its kind.
        memcached.stop()
        var failures: [String: Int64] = [:]
        for i in 0..<3 {
            do {
                _ = try await pool.get("k\(i)")
            } catch let error as MemcacheError {
                failures[error.outcome, default: 0] += 1
            }
        }
        #expect(failures.values.reduce(0, +) == 3)
        for (outcome, count) in failures { #expect(operations("mg", outcome).count == count, "\(outcome)") }
        #expect(Set(failures.keys).isSubset(of: ["connection_closed", "connect_failed"]), "\(failures)")
        // The one connection closed with the server: counted once, by why (lost when the
        // pool heard of the hang-up first, unusable when a failed call gave it back first),
        // in the statistics and as the metric's reason.
        #expect(try await poll { await pool.statistics().total.closed == 1 })
        let closedBy = await pool.statistics().total.closedBy
        #expect(closedBy == [.lost: 1] || closedBy == [.unusable: 1], "\(closedBy)")
        let reason = try #require(closedBy.keys.first)
        #expect(
            try metrics.expectCounter("db.client.connection.closed", loop + [("reason", reason.rawValue)]).totalValue
                == 1)

        await pool.shutdown()
        #expect(idle.lastValue == 0, "shutdown refreshes the gauges")
        try await group.shutdownGracefully()
    }

    @Test("metrics off: nothing is recorded")
    func metricsOff() async throws {
        let fixture = try await MemcachePoolFixture {
            $0.pool.reportsMetrics = false
            $0.pool.metricsFactory = TestMetrics()
        }
        try await fixture.pool.set("a", to: ByteBuffer(string: "1"))
        let metrics = try #require(fixture.pool.configuration.pool.metricsFactory as? TestMetrics)
        #expect(metrics.counters.isEmpty && metrics.timers.isEmpty && metrics.recorders.isEmpty)
        try await fixture.stop()
    }

    @Test("logs: a connect failure opens the breaker (warning), a probe fails (warning), the server returns (info)")
    func breakerLogs() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let reserved = try ReservedPort()
        let logs = CapturedLogs()
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: reserved.port, maxConnections: 1)
        configuration.pool.logger = logs.logger(label: "test")
        configuration.pool.backoff = Backoff(
            initial: .milliseconds(50), multiplier: 1, maximum: .milliseconds(50), jitter: 0)
        // The connection must be closed by the server's end below, not by being idle for the
        // default minute (a sanitizer's stall can last that long).
        configuration.pool.idleTimeout = testPatience
        let pool = MemcachePool(configuration: configuration, group: group)

        await #expect(throws: MemcacheError.self) { try await pool.get("a") }
        let opened = try #require(logs.messages(atLeast: .warning, startingWith: "connect failed").first)
        #expect(opened.metadata["pool"] == "127.0.0.1:\(reserved.port)" && opened.metadata["loop"] == "0")
        #expect(opened.metadata["server"] == "127.0.0.1:\(reserved.port)")
        #expect(opened.metadata["error"]?.contains("refused") == true, "\(opened.metadata)")
        #expect(opened.metadata["next_probe_in"] == "50 ms")

        // After the backoff a call probes, and fails again.
        try await Task.sleep(for: .milliseconds(100))
        await #expect(throws: MemcacheError.self) { try await pool.get("a") }
        #expect(!logs.messages(atLeast: .info, startingWith: "probing the server").isEmpty)
        #expect(!logs.messages(atLeast: .warning, startingWith: "the probe failed").isEmpty)

        // The server comes up on the port: the next probe connects.
        reserved.release()
        let memcached = try await MemcachedServer(port: reserved.port, group: group)
        try await Task.sleep(for: .milliseconds(100))
        _ = try await pool.set("a", to: ByteBuffer(string: "back"))
        let back = try #require(logs.messages(atLeast: .info, startingWith: "the server is reachable again").first)
        #expect(Int(back.metadata["failed_connects"] ?? "") ?? 0 >= 2)
        #expect(!logs.messages(atLeast: .debug, startingWith: "connection opened").isEmpty)
        // Nothing per request above trace.
        #expect(logs.messages.filter { $0.level > .trace }.count < 12, "\(logs.messages.map(\.message))")
        // A connection the server drops is logged as such.
        memcached.stop()
        #expect(try await poll { !logs.messages(atLeast: .debug, startingWith: "connection closed").isEmpty })
        #expect(
            logs.messages(atLeast: .debug, startingWith: "connection closed").first?.metadata["reason"] == "lost")
        await pool.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("logs: a server set ejects an unreachable server (warning) and its keys move")
    func ejectionLogs() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let memcached = try await MemcachedServer(group: group)
        let down = try ReservedPort()
        let logs = CapturedLogs()
        let servers = MemcacheServerSet(
            servers: [("127.0.0.1", memcached.port), ("127.0.0.1", down.port)], group: group,
            failurePolicy: .rehash, ejection: ejectAtFirstFailure, logger: logs.logger(label: "set")
        ) { waitPatiently(&$0) }
        // Keys until one lives on the down server: its call ejects it and succeeds on the other.
        for i in 0..<100 {
            try await servers.set("key\(i)", to: ByteBuffer(string: "v"))
        }
        let ejected = logs.messages(atLeast: .warning, startingWith: "server ejected")
        #expect(ejected.count == 1, "\(logs.messages.map(\.message))")
        #expect(ejected.first?.metadata["server"] == "127.0.0.1:\(down.port)")
        #expect(ejected.first?.metadata["retry_after"] == "3600 s")
        await servers.shutdown()
        memcached.stop()
        try await group.shutdownGracefully()
    }

    @Test("a ServiceGroup's graceful shutdown lets requests in flight finish, then stops the pool and the server")
    func serviceGroupDrains() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await InProcessMemcacheServer.start(group: group, configuration: .init(port: 0))
        var configuration = MemcachePool.Configuration(
            host: "127.0.0.1", port: server.localAddress.port, maxConnections: 4)
        waitPatiently(&configuration)
        let logs = CapturedLogs()
        configuration.pool.logger = logs.logger(label: "drain")
        let pool = MemcachePool(configuration: configuration, group: group)
        try await pool.set("k", to: ByteBuffer(string: "v"))
        // Stopped in reverse order: the pool drains first, then the server.
        let services = ServiceGroup(
            services: [server, pool], logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let running = Task { try await services.run() }

        let started = LockedValue(0)
        let answered = LockedValue(0)
        let callers = Task {
            await withTaskGroup(of: Result<ByteBuffer?, any Error>.self) { tasks in
                for _ in 0..<2_000 {
                    tasks.addTask {
                        started.withLock { $0 += 1 }
                        do {
                            let value = try await pool.get("k")
                            answered.withLock { $0 += 1 }
                            return .success(value)
                        } catch { return .failure(error) }
                    }
                }
                var results: [Result<ByteBuffer?, any Error>] = []
                for await result in tasks { results.append(result) }
                return results
            }
        }
        // Shut down only once requests are really in flight (leased) or answered: a TSan run
        // once had 100 callers started and none of them in the pool yet.
        #expect(
            try await poll {
                let leased = await pool.statistics().total.activeLeases
                return started.withLock { $0 } >= 100 && (answered.withLock { $0 } > 0 || leased > 0)
            })
        await services.triggerGracefulShutdown()
        try await running.value
        let results = await callers.value
        #expect(results.count == 2_000)
        var succeeded = 0
        for result in results {
            switch result {
            case .success(let value):
                succeeded += 1
                #expect(value == ByteBuffer(string: "v"))
            case .failure(let error):
                // Not leased before the shutdown: refused, never cut off mid-request.
                #expect((error as? MemcacheError)?.code == .shutdown, "\(error)")
            }
        }
        #expect(succeeded > 0)
        await #expect { try await pool.get("k") } throws: { ($0 as? MemcacheError)?.code == .shutdown }
        // The server stopped listening, and every connection it had was closed.
        await #expect(throws: (any Error).self) {
            try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        }
        #expect(server.statistics.currentConnections == 0)
        // The pool closed its connections itself and says why: for its shutdown (or, in a run
        // slowed past the idle timeout, an idle one earlier); none was lost to the server.
        let closed = logs.messages(atLeast: .debug, startingWith: "connection closed")
        #expect(!closed.isEmpty, "\(closed.map(\.metadata))")
        #expect(
            closed.allSatisfy { ["shutdown", "idle"].contains($0.metadata["reason"]) }, "\(closed.map(\.metadata))")
        try await group.shutdownGracefully()
    }
}
