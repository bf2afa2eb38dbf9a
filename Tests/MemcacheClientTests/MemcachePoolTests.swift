import Channels
import Codecs
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

/// Sets the response, lease, connect and idle timeouts and the keep-alive interval to
/// `testPatience`, for tests that do not check them. (Idle: a test stalled by the others for a
/// minute found its connections closed as idle and new ones counted. Keep-alive: a test
/// stalled past the 60-s interval pinged a connection of a `ScriptedServer` that ignores
/// `mn`; the ping, unanswered, closes the connection under the test.)
func waitPatiently(_ configuration: inout MemcachePool.Configuration) {
    configuration.responseTimeout = testPatience
    configuration.pool.leaseTimeout = testPatience
    configuration.pool.connectTimeout = testPatience
    configuration.pool.idleTimeout = testPatience
    configuration.pool.keepAlive = .init(interval: testPatience, timeout: testPatience)
}

/// A real memcached, a 2-loop group and a `MemcachePool` over it.
struct MemcachePoolFixture: Sendable {
    let group: EventLoopGroup
    let server: MemcachedServer
    let pool: MemcachePool

    init(arguments: [String] = [], configure: (inout MemcachePool.Configuration) -> Void = { _ in }) async throws {
        self.group = try EventLoopGroup(loopCount: 2)
        self.server = try await MemcachedServer(arguments: arguments, group: self.group)
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: self.server.port, maxConnections: 8)
        waitPatiently(&configuration)
        configure(&configuration)
        self.pool = MemcachePool(configuration: configuration, group: self.group)
    }

    func stop() async throws {
        await self.pool.shutdown()
        self.server.stop()
        try await self.group.shutdownGracefully()
    }
}

@Suite(
    "MemcachePool against a real memcached", .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct MemcachePoolTests {
    @Test("every command works through the pool")
    func commands() async throws {
        let fixture = try await MemcachePoolFixture()
        let pool = fixture.pool
        try await pool.set("a", to: ByteBuffer(string: "1"))
        #expect(try await pool.get("a") == ByteBuffer(string: "1"))
        #expect(try await pool.get("missing") == nil)
        #expect(try await pool.add("a", value: ByteBuffer(string: "x")) == false)
        #expect(try await pool.add("b", value: ByteBuffer(string: "2")) == true)
        #expect(try await pool.replace("b", value: ByteBuffer(string: "3")) == true)
        #expect(try await pool.append("b", ByteBuffer(string: "4")) == true)
        #expect(try await pool.prepend("b", ByteBuffer(string: "5")) == true)
        #expect(try await pool.get("b") == ByteBuffer(string: "534"))
        let item = try #require(try await pool.getItem("b"))
        #expect(try await pool.cas("b", value: ByteBuffer(string: "6"), cas: item.cas ?? 0) == .stored)
        #expect(try await pool.cas("b", value: ByteBuffer(string: "7"), cas: item.cas ?? 0) == .exists)
        #expect(try await pool.increment("a", by: 41) == 42)
        #expect(try await pool.decrement("a", by: 2) == 40)
        #expect(try await pool.touch("a", ttl: 100) == true)
        let many = try await pool.getMany(["a", "b", "missing"])
        #expect(many.count == 2 && many["b"] == ByteBuffer(string: "6"))
        #expect(try await pool.delete("a") == true)
        #expect(try await pool.delete("a") == false)
        #expect(try await pool.version().isEmpty == false)
        #expect(try await pool.stats()["curr_connections"] != nil)
        try await pool.flushAll()
        #expect(try await pool.get("b") == nil)
        try await fixture.stop()
    }

    @Test("String keys made at run time work with every command; an invalid one throws invalidKey and sends nothing")
    func stringKeys() async throws {
        let fixture = try await MemcachePoolFixture { $0.pool.maxConnections = 1 }
        let pool = fixture.pool
        for i in 0..<3 { try await pool.set("user:\(i)", to: ByteBuffer(string: "v\(i)")) }
        let name = "user:1"
        #expect(try await pool.get(name).map { String(buffer: $0) } == "v1")
        #expect(
            try await pool.getMany(["user:0", "user:2", "user:9"]) == [
                "user:0": ByteBuffer(string: "v0"), "user:2": ByteBuffer(string: "v2"),
            ])
        #expect(try await pool.add(name, value: ByteBuffer(string: "x")) == false)
        #expect(try await pool.append(name, ByteBuffer(string: "!")) == true)
        #expect(try await pool.getItem(name)?.value == ByteBuffer(string: "v1!"))
        #expect(try await pool.touch(name, ttl: 60) == true)
        #expect(try await pool.delete(name) == true)

        // "a b" would read as two keys on the wire, "a\r\nflush_all" as a second command.
        for bad in ["a b", "a\r\nflush_all", "", String(repeating: "k", count: 251)] {
            await #expect { try await pool.get(bad) } throws: { ($0 as? MemcacheError)?.code == .invalidKey }
            await #expect { try await pool.set(bad, to: ByteBuffer(string: "x")) } throws: {
                ($0 as? MemcacheError)?.code == .invalidKey
            }
            await #expect { try await pool.getMany(["user:0", bad]) } throws: {
                ($0 as? MemcacheError)?.code == .invalidKey
            }
        }
        // Nothing reached the server: its one connection is in step and nothing was flushed.
        #expect(try await pool.get("user:0") == ByteBuffer(string: "v0"))
        #expect(try await pool.stats()["cmd_flush"] == "0")
        try await fixture.stop()
    }

    /// 10,000 concurrent callers, each getting its own key, whose value names that key:
    /// every caller receives its own key's value (a reply matched to the wrong caller would
    /// show), never more than 8 connections on the server; half the callers run on the pool's
    /// loops, half as plain tasks; exclusive and shared leases, plain and over TLS.
    @Test(
        "10,000 concurrent callers each get their own key's value, on 2 loops over at most 8 connections",
        arguments: [(leases: 1, tls: false), (leases: 16, tls: false), (leases: 16, tls: true)])
    func tenThousandCallers(leasesPerConnection: Int, tls: Bool) async throws {
        let clientTLS =
            tls ? try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem")))) : nil
        let fixture = try await MemcachePoolFixture(arguments: tls ? MemcachedServer.tlsArguments : []) {
            $0.tls = clientTLS
            $0.pool.maxConcurrentLeasesPerConnection = leasesPerConnection
            // Correctness, not speed: under a sanitizer 10,000 queued callers take longer than 10 s.
            $0.pool.leaseTimeout = testPatience
        }
        let monitor = try await MemcacheConnection.connect(
            host: "127.0.0.1", port: fixture.server.port, group: fixture.group, tls: clientTLS)
        let baseline = Int(try await monitor.stats()["curr_connections"] ?? "") ?? -1
        let callers = 10_000
        // The value names its key, and differs in length from key to key.
        @Sendable func value(_ caller: Int) -> ByteBuffer {
            ByteBuffer(string: "value-of-key-\(caller)-" + String(repeating: "v", count: caller % 37))
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<32 {
                tasks.addTask {
                    for caller in stride(from: worker, to: callers, by: 32) {
                        try await fixture.pool.set(MemcacheKey("key-\(caller)"), to: value(caller))
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let peak = LockedValue(0)
        let sampling = Task {
            while !Task.isCancelled {
                let now = Int(try await monitor.stats()["curr_connections"] ?? "") ?? 0
                peak.withLock { $0 = max($0, now - baseline) }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        let wrong = LockedValue(0)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for caller in 0..<callers {
                let get: @Sendable @concurrent () async throws -> Void = {
                    let received = try await fixture.pool.get(MemcacheKey("key-\(caller)"))
                    if received != value(caller) { wrong.withLock { $0 += 1 } }
                }
                if caller % 2 == 0 {
                    tasks.addTask(
                        executorPreference: fixture.group.loops[caller / 2 % fixture.group.loops.count], operation: get)
                } else {
                    tasks.addTask(operation: get)
                }
            }
            try await tasks.waitForAll()
        }
        sampling.cancel()
        _ = try? await sampling.value
        let statistics = await fixture.pool.statistics().total
        #expect(wrong.withLock { $0 } == 0)
        #expect(peak.withLock { $0 } <= 8)
        #expect(statistics.created - statistics.closed <= 8)
        #expect(statistics.waiting == 0)
        try await monitor.close()
        try await fixture.stop()
    }

    /// Runs `body` with a pool of one exclusive connection to a server that accepts and never
    /// answers, on a group of one loop; closes the server and the group after it, also when
    /// `body` throws.
    static func withSilentServer(
        responseTimeout: TimeAmount, leaseTimeout: TimeAmount,
        _ body: (_ pool: MemcachePool, _ group: EventLoopGroup) async throws -> Void
    ) async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await startBlackHoleServer(group: group)
        var configuration = MemcachePool.Configuration(
            host: "127.0.0.1", port: server.localAddress.port, maxConnections: 1)
        configuration.responseTimeout = responseTimeout
        configuration.pool.maxConcurrentLeasesPerConnection = 1
        configuration.pool.leaseTimeout = leaseTimeout
        configuration.retryIdempotent = false
        let pool = MemcachePool(configuration: configuration, group: group)
        do {
            try await body(pool, group)
        } catch {
            // A failed check stops the server and the group too; the failure is what reports.
            await pool.shutdown()
            try? await server.close()
            try? await group.shutdownGracefully()
            throw error
        }
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("a server that accepts and never answers: the request times out")
    func silentServerRequestTimeout() async throws {
        // The lease itself must not time out first: under a sanitizer the connect can take longer than 50 ms.
        try await Self.withSilentServer(responseTimeout: .milliseconds(100), leaseTimeout: .seconds(60)) { pool, _ in
            do {
                _ = try await pool.get("k")
                Issue.record("the request should time out")
            } catch let error as MemcacheError {
                #expect(error.code == .timeout)
            }
            // The timed-out connection was closed, not reused (its byte stream is out of step).
            var statistics = await pool.statistics().total
            for _ in 0..<200 where statistics.closed < 1 {
                try await Task.sleep(for: .milliseconds(5))
                statistics = await pool.statistics().total
            }
            #expect(statistics.closed == 1 && statistics.open == 0)
            await pool.shutdown()
        }
    }

    @Test("a get queued behind a stuck request fails with the pool's lease timeout, from a plain task and on the loop")
    func getLeaseTimeout() async throws {
        try await Self.withSilentServer(responseTimeout: .seconds(600), leaseTimeout: .milliseconds(50)) {
            pool, group in
            // The stuck request holds the only connection. Its own lease can time out while a
            // sanitizer slows the connect; the connection is then up and idle, and the next one
            // takes it.
            var stuck: [Task<ByteBuffer?, any Error>] = []
            let held = try await poll {
                if await pool.statistics().total.activeLeases >= 1 { return true }
                stuck.append(Task { try await pool.get("k") })
                try await Task.sleep(for: .milliseconds(20))
                return await pool.statistics().total.activeLeases >= 1
            }
            #expect(held)
            // Queued without a deadline of its own (`PooledMemcacheCall`): the loop gives it the
            // pool's lease timeout when it queues it. (Were it given none, the watchdog's
            // shutdown would end the wait with another error.)
            let watchdog = Task {
                try await Task.sleep(for: .seconds(testPatience.nanoseconds / 1_000_000_000))
                await pool.shutdown(deadline: .zero)
            }
            for executor in [nil, group.loops[0]] as [(any TaskExecutor)?] {
                let error = await Task(executorPreference: executor) {
                    await #expect(throws: MemcacheError.self) { try await pool.get("queued") }
                }.value
                #expect(error?.code == .poolExhausted)
                #expect((error?.cause as? PoolError)?.code == .leaseTimeout, "\(String(describing: error))")
            }
            watchdog.cancel()
            await pool.shutdown(deadline: .zero)
            for task in stuck { _ = try? await task.value }
        }
    }

    @Test("a server that accepts and never answers: leases behind the stuck request time out")
    func silentServerLeaseTimeout() async throws {
        // A response timeout far beyond the test, so only the lease timeout can fire. The
        // stuck request gets a long lease timeout (its connect may be slow under a sanitizer);
        // the second caller asks for a short one of its own.
        try await Self.withSilentServer(responseTimeout: .seconds(600), leaseTimeout: .seconds(60)) { pool, _ in
            let stuck = Task { try await pool.get("k") }
            #expect(try await poll { await pool.statistics().total.activeLeases >= 1 })
            do {
                try await pool.connections.withConnection(timeout: .milliseconds(50)) { _ in }
                Issue.record("the lease should time out behind the stuck request")
            } catch let error as PoolError {
                #expect(error.code == .leaseTimeout)
            }
            // Shutting down with no grace closes the stuck connection: its caller gets a typed error.
            await pool.shutdown(deadline: .zero)
            let error = await #expect(throws: MemcacheError.self) { try await stuck.value }
            #expect(error?.code == .connectionClosed)
        }
    }

    @Test("memcached killed under load: typed errors, no hang; restarted: the pool recovers by itself")
    func serverKilledAndRestarted() async throws {
        var fixture: MemcachePoolFixture? = try await MemcachePoolFixture {
            $0.pool.leaseTimeout = .seconds(30)
            $0.pool.backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        }
        let pool = fixture!.pool
        let group = fixture!.group
        let port = fixture!.server.port
        try await pool.set("k", to: ByteBuffer(string: "v"))
        let outcomes = LockedValue<[String: Int]>([:])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<64 {
                tasks.addTask {
                    // Each caller gets until its first error (or 2,000 values): after the
                    // kill, nobody spins on fast failures.
                    for _ in 0..<2_000 {
                        do {
                            _ = try await pool.get("k")
                            outcomes.withLock { $0["ok", default: 0] += 1 }
                        } catch let error as MemcacheError {
                            outcomes.withLock { $0["\(error.code)", default: 0] += 1 }
                            return
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            fixture!.server.stop()
            try await tasks.waitForAll()
        }
        let counts = outcomes.withLock { $0 }
        // Every caller ended (no hang) with values or one typed error each, and nobody waited
        // out the 30 s lease timeout: queued callers failed fast with the connect error.
        let errors = counts.filter { $0.key != "ok" }.values.reduce(0, +)
        #expect(errors > 0 && errors <= 64)
        #expect(counts["pool exhausted"] == nil)

        let restarted = try await MemcachedServer(port: port, group: group)
        var recovered = false
        for _ in 0..<300 where !recovered {
            recovered = (try? await pool.set("k", to: ByteBuffer(string: "back"))) != nil
            if !recovered { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(recovered)
        #expect(try await pool.get("k") == ByteBuffer(string: "back"))
        restarted.stop()
        try await fixture!.stop()
        fixture = nil
    }
}

@Suite(
    "MemcachePool over TLS against memcached -Z",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct MemcachePoolTLSTests {
    @Test("1,000 concurrent callers over TLS, every value right")
    func concurrentOverTLS() async throws {
        let tls = try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem"))))
        let fixture = try await MemcachePoolFixture(arguments: MemcachedServer.tlsArguments) { $0.tls = tls }
        for index in 0..<50 {
            try await fixture.pool.set(MemcacheKey("tls-\(index)"), to: ByteBuffer(string: "v\(index)"))
        }
        let wrong = LockedValue(0)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for caller in 0..<1_000 {
                tasks.addTask {
                    let value = try await fixture.pool.get(MemcacheKey("tls-\(caller % 50)"))
                    if value != ByteBuffer(string: "v\(caller % 50)") { wrong.withLock { $0 += 1 } }
                }
            }
            try await tasks.waitForAll()
        }
        #expect(wrong.withLock { $0 } == 0)
        try await fixture.stop()
    }

    @Test("an untrusted server: leases fail with connectFailed carrying the TLSError")
    func untrusted() async throws {
        let tls = try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/untrusted-ca.pem"))))
        let fixture = try await MemcachePoolFixture(arguments: MemcachedServer.tlsArguments) { $0.tls = tls }
        do {
            _ = try await fixture.pool.get("k")
            Issue.record("the handshake must fail")
        } catch let error as MemcacheError {
            #expect(error.code == .tlsFailure)
            #expect((error.cause as? PoolError)?.cause is TLSError)
        }
        try await fixture.stop()
    }

    /// memcached -Z with `ssl_verify_mode=2` (mutual TLS). Under TLS 1.3 the client finishes
    /// its side of the handshake before the server has checked the client's certificate, so
    /// a refused client learns of it at its first read, not at connect.
    @Test(
        "mTLS (ssl_verify_mode=2): with a client certificate it works; without, the connect succeeds and the first request fails"
    )
    func mutualTLS() async throws {
        let arguments = [
            "-Z", "-o",
            "ssl_chain_cert=\(fixturePath("tls/server-chain.pem")),ssl_key=\(fixturePath("tls/server.key")),"
                + "ssl_ca_cert=\(fixturePath("tls/ca.pem")),ssl_verify_mode=2",
        ]
        let withCertificate = try TLSContext.patient(
            configuration: .client(
                trustRoots: .file(fixturePath("tls/ca.pem")), certificateChain: .file(fixturePath("tls/client.pem")),
                privateKey: .file(fixturePath("tls/client.key"))))
        let accepted = try await MemcachePoolFixture(arguments: arguments) { $0.tls = withCertificate }
        try await accepted.pool.set("mtls", to: ByteBuffer(string: "yes"))
        #expect(try await accepted.pool.get("mtls") == ByteBuffer(string: "yes"))
        try await accepted.stop()

        let withoutCertificate = try TLSContext.patient(
            configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem"))))
        let refused = try await MemcachePoolFixture(arguments: arguments) {
            $0.tls = withoutCertificate
            $0.retryIdempotent = false
            $0.pool.maxConnections = 1
        }
        do {
            _ = try await refused.pool.get("mtls")
            Issue.record("the server must refuse a client without a certificate")
        } catch let error as MemcacheError where error.cause is PoolError {
            // On a stalled run (a sanitizer on 2 cores) the server's alert can reach us before
            // our side of the handshake is reported complete: then the connect fails, and
            // must do so with the TLS alert as its cause, not with a hang or a timeout.
            #expect(error.code == .tlsFailure && (error.cause as? PoolError)?.cause is TLSError, "\(error)")
        } catch {
            // The usual case: the handshake completed on our side; the alert came with the reply.
            let statistics = await refused.pool.statistics().total
            #expect(statistics.connectFailures == 0, "\(statistics)")
        }
        try await refused.stop()
    }
}
