import Channels
import Codecs
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

/// A pool over a real memcached, plain or `-Z`.
private func fixture(tls: Bool) async throws -> MemcachePoolFixture {
    let clientTLS =
        tls ? try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem")))) : nil
    return try await MemcachePoolFixture(arguments: tls ? MemcachedServer.tlsArguments : []) { $0.tls = clientTLS }
}

/// Waiting callers poll patiently, and a winner's lease outlives any stall: under a sanitizer,
/// with the whole suite running at once on 2 cores, a compute of 50 ms has taken over 30 s
/// (the default lease TTL), and an expired lease makes a second winner.
private var patientPolicy: MemcacheComputePolicy {
    var policy = MemcacheComputePolicy()
    policy.waitLimit = testPatience
    policy.leaseTTL = patientTTL
    return policy
}

/// Seconds a lease or a stale value lives in these tests: `testPatience`.
private let patientTTL = Int(testPatience.nanoseconds / 1_000_000_000)

/// Counts computes and how many ran at once.
private final class ComputeLog: Sendable {
    let runs = LockedValue(0)
    let running = LockedValue(0)
    let mostAtOnce = LockedValue(0)

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        self.runs.withLock { $0 += 1 }
        let now = self.running.withLock { running in
            running += 1
            return running
        }
        self.mostAtOnce.withLock { $0 = max($0, now) }
        defer { self.running.withLock { $0 -= 1 } }
        return try await body()
    }
}

private struct Boom: Error {}

@Suite(
    "Cache policies against a real memcached", .enabled(if: MemcachedServer.binary != nil, "memcached is not installed")
)
struct CachePolicyTests {
    @Test(
        "1,000 concurrent getOrCompute callers on a cold key: compute runs once and all get its value",
        arguments: [false, true])
    func stampede(tls: Bool) async throws {
        let fixture = try await fixture(tls: tls)
        let log = ComputeLog()
        let pool = fixture.pool
        let values = try await withThrowingTaskGroup(of: ByteBuffer.self) { tasks in
            for _ in 0..<1_000 {
                tasks.addTask {
                    // The value outlives the run: under a sanitizer a caller can start its first
                    // read minutes after the winner stored it, and must not find it expired.
                    try await pool.getOrCompute("cold", ttl: patientTTL, policy: patientPolicy) {
                        try await log.run {
                            try await Task.sleep(for: .milliseconds(50))
                            return ByteBuffer(string: "computed")
                        }
                    }
                }
            }
            var values: [ByteBuffer] = []
            for try await value in tasks { values.append(value) }
            return values
        }
        #expect(log.runs.withLock { $0 } == 1)
        #expect(values.count == 1_000)
        #expect(values.allSatisfy { $0 == ByteBuffer(string: "computed") })
        #expect(try await pool.get("cold") == ByteBuffer(string: "computed"))
        try await fixture.stop()
    }

    @Test(
        "a winner that throws gives the lease back: another caller wins, compute runs twice, nobody hangs",
        arguments: [false, true])
    func winnerThrows(tls: Bool) async throws {
        let fixture = try await fixture(tls: tls)
        let log = ComputeLog()
        let pool = fixture.pool
        let outcomes = try await withThrowingTaskGroup(of: Result<ByteBuffer, any Error>.self) { tasks in
            for _ in 0..<1_000 {
                tasks.addTask {
                    do {
                        return .success(
                            try await pool.getOrCompute("flaky", ttl: patientTTL, policy: patientPolicy) {
                                try await log.run {
                                    try await Task.sleep(for: .milliseconds(20))
                                    if log.runs.withLock({ $0 }) == 1 { throw Boom() }
                                    return ByteBuffer(string: "second try")
                                }
                            })
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var outcomes: [Result<ByteBuffer, any Error>] = []
            for try await outcome in tasks { outcomes.append(outcome) }
            return outcomes
        }
        #expect(log.runs.withLock { $0 } == 2)
        #expect(log.mostAtOnce.withLock { $0 } == 1)
        let failures = outcomes.compactMap { outcome -> (any Error)? in
            if case .failure(let error) = outcome { return error }
            return nil
        }
        #expect(failures.count == 1 && failures.first is Boom, "only the failed winner sees its error")
        #expect(outcomes.allSatisfy { (try? $0.get()).map { $0 == ByteBuffer(string: "second try") } ?? true })
        try await fixture.stop()
    }

    @Test(
        "a winner whose task is cancelled gives the lease back: another caller wins and everyone else gets its value",
        arguments: [false, true])
    func winnerCancelled(tls: Bool) async throws {
        let fixture = try await fixture(tls: tls)
        let log = ComputeLog()
        let pool = fixture.pool
        let firstWinner = LockedValue<Int?>(nil)
        var callers: [Task<ByteBuffer, any Error>] = []
        for index in 0..<1_000 {
            callers.append(
                Task {
                    try await pool.getOrCompute("cancelled", ttl: patientTTL, policy: patientPolicy) {
                        try await log.run {
                            let first = firstWinner.withLock { winner in
                                if winner == nil { winner = index }
                                return winner == index
                            }
                            // The first winner computes until it is cancelled.
                            try await Task.sleep(
                                for: first ? .nanoseconds(testPatience.nanoseconds) : .milliseconds(20))
                            return ByteBuffer(string: "from the second winner")
                        }
                    }
                })
        }
        #expect(try await poll { firstWinner.withLock { $0 } != nil })
        let winner = try #require(firstWinner.withLock { $0 })
        callers[winner].cancel()
        await #expect(throws: CancellationError.self) { try await callers[winner].value }
        for (index, caller) in callers.enumerated() where index != winner {
            #expect(try await caller.value == ByteBuffer(string: "from the second winner"))
        }
        #expect(log.runs.withLock { $0 } == 2)
        try await fixture.stop()
    }

    @Test(
        "early recache: under continuous reads of an expiring key, one reader wins each refresh and no reader sees a miss",
        arguments: [false, true])
    func earlyRecache(tls: Bool) async throws {
        let fixture = try await fixture(tls: tls)
        let pool = fixture.pool
        // A long TTL that is "running out" at once: readers win a refresh when less than 999 s
        // of 1000 are left, i.e. once memcached's clock (whole seconds) has moved past the
        // last store. A sanitizer's stall (minutes, in a slow run) cannot make the item expire
        // under the readers.
        try await pool.set("hot", to: ByteBuffer(string: "v0"), ttl: 1000)
        let winsByVersion = LockedValue<[UInt64: Int]>([:])
        let misses = LockedValue(0)
        let reads = LockedValue(0)
        let start = Deadline.now()
        @Sendable func done() -> Bool {
            let elapsed = Deadline.now() - start
            return (elapsed > .seconds(4) && winsByVersion.withLock { $0.count } >= 2) || elapsed > testPatience
        }
        try await withThrowingTaskGroup(of: Void.self) { readers in
            for _ in 0..<8 {
                readers.addTask {
                    while !done() {
                        let lease = try await pool.getWithLease("hot", recacheBelow: 999)
                        reads.withLock { $0 += 1 }
                        guard lease.value != nil else {
                            misses.withLock { $0 += 1 }
                            if lease.isWinner { try await pool.releaseLease("hot", lease) }
                            continue
                        }
                        if lease.isWinner {
                            let version = winsByVersion.withLock { wins in
                                wins[lease.cas ?? 0, default: 0] += 1
                                return wins.count
                            }
                            #expect(
                                try await pool.storeLeased(
                                    "hot", value: ByteBuffer(string: "v\(version)"), lease: lease, ttl: 1000))
                        }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
            }
            try await readers.waitForAll()
        }
        let wins = winsByVersion.withLock { $0 }
        #expect(misses.withLock { $0 } == 0, "no reader saw a miss in \(reads.withLock { $0 }) reads")
        #expect(wins.count >= 2, "refreshes happen")
        #expect(wins.values.allSatisfy { $0 == 1 }, "one refresh per version: \(wins)")
        try await fixture.stop()
    }

    @Test(
        "serve-stale: after invalidate, readers get the old value flagged stale until the one refresh lands",
        arguments: [false, true])
    func serveStale(tls: Bool) async throws {
        let fixture = try await fixture(tls: tls)
        let pool = fixture.pool
        try await pool.set("profile", to: ByteBuffer(string: "old"), ttl: patientTTL)
        #expect(try await pool.invalidate("profile", staleTTL: patientTTL))
        #expect(try await pool.invalidate("never-there") == false)
        let leases = try await withThrowingTaskGroup(of: MemcacheLease.self) { tasks in
            for _ in 0..<20 { tasks.addTask { try await pool.getWithLease("profile", leaseTTL: patientTTL) } }
            var leases: [MemcacheLease] = []
            for try await lease in tasks { leases.append(lease) }
            return leases
        }
        #expect(leases.allSatisfy { $0.value == ByteBuffer(string: "old") && $0.isStale })
        let winners = leases.filter(\.isWinner)
        #expect(winners.count == 1)
        #expect(leases.filter(\.isRecomputing).count == 19)
        // getOrCompute serves the stale value to a caller that did not win.
        let log = ComputeLog()
        #expect(
            try await pool.getOrCompute("profile", ttl: patientTTL, policy: patientPolicy) {
                try await log.run { ByteBuffer(string: "never") }
            }
                == ByteBuffer(string: "old"))
        #expect(log.runs.withLock { $0 } == 0)
        let winner = try #require(winners.first)
        #expect(try await pool.storeLeased("profile", value: ByteBuffer(string: "new"), lease: winner, ttl: patientTTL))
        let fresh = try await pool.getWithLease("profile", leaseTTL: patientTTL)
        #expect(fresh.value == ByteBuffer(string: "new") && !fresh.isStale && !fresh.isWinner && !fresh.isRecomputing)
        try await fixture.stop()
    }

    @Test(
        "setMany of 10,000 keys stores them all; a value over the item size limit is reported for its own key; deleteMany removes them",
        arguments: [false, true])
    func setManyAndDeleteMany(tls: Bool) async throws {
        let fixture = try await fixture(tls: tls)
        let pool = fixture.pool
        var values: [MemcacheKey: ByteBuffer] = [:]
        for index in 0..<10_000 {
            values[try MemcacheKey("bulk-\(index)")] = ByteBuffer(string: "value-of-bulk-\(index)")
        }
        let big: MemcacheKey = "bulk-too-big"
        values[big] = ByteBuffer(string: String(repeating: "x", count: 2 << 20)) // memcached's limit is 1 MiB
        let failures = try await pool.setMany(values, ttl: 300)
        #expect(Array(failures.keys) == [big])
        #expect(failures[big]?.code == .serverError)
        let keys = try (0..<10_000).map { try MemcacheKey("bulk-\($0)") }
        var found = 0
        for start in stride(from: 0, to: keys.count, by: 1_000) {
            let part = try await pool.getMany(Array(keys[start..<start + 1_000]))
            found += part.filter { key, value in value == values[key] }.count
        }
        #expect(found == 10_000)
        #expect(try await pool.deleteMany(keys + [big]).isEmpty, "a missing key is not a failure")
        #expect(try await pool.getMany(Array(keys.prefix(1_000))).isEmpty)
        try await fixture.stop()
    }

    @Test("setMany of 100,000 keys completes, in bounded exchanges, and every key is there")
    func hundredThousand() async throws {
        let fixture = try await fixture(tls: false)
        let pool = fixture.pool
        var values: [MemcacheKey: ByteBuffer] = [:]
        for index in 0..<100_000 { values[try MemcacheKey("many-\(index)")] = ByteBuffer(string: "v\(index)") }
        #expect(try await pool.setMany(values).isEmpty)
        #expect(try await pool.stats()["curr_items"] == "100000")
        try await fixture.stop()
    }

    @Test(
        "typed values round-trip with their format's flags; the wrong type is a typed error", arguments: [false, true])
    func typedValues(tls: Bool) async throws {
        struct Point: Codable, Equatable, Sendable { var x: Int, y: Int }
        let fixture = try await fixture(tls: tls)
        let pool = fixture.pool
        try await pool.set("text", value: "héllo")
        try await pool.set("number", value: -42)
        try await pool.set("point", value: MemcacheJSON(Point(x: 1, y: 2)))
        #expect(try await pool.get("text", as: String.self) == "héllo")
        #expect(try await pool.get("number", as: Int.self) == -42)
        #expect(try await pool.get("point", as: MemcacheJSON<Point>.self)?.value == Point(x: 1, y: 2))
        #expect(try await pool.get("missing", as: String.self) == nil)
        // Bytes stay bytes, whatever the format.
        let json = try #require(try await pool.get("point", as: ByteBuffer.self))
        #expect(try MemcacheJSON<Point>(memcacheBytes: json).value == Point(x: 1, y: 2))
        for attempt in [
            { try await pool.get("point", as: String.self) as Any },
            { try await pool.get("text", as: Int.self) as Any },
            { try await pool.get("number", as: MemcacheJSON<Point>.self) as Any },
        ] {
            let error = await #expect(throws: MemcacheError.self) { _ = try await attempt() }
            #expect(error?.code == .typeMismatch)
        }
        // Right flags, wrong bytes.
        try await pool.set("point", to: ByteBuffer(string: "{not json"), flags: MemcacheJSON<Point>.memcacheFlags)
        let broken = await #expect(throws: MemcacheError.self) {
            try await pool.get("point", as: MemcacheJSON<Point>.self)
        }
        #expect(broken?.code == .typeMismatch)
        // A counter made by incr reads as an integer.
        try await pool.set("counter", to: ByteBuffer(string: "9"))
        _ = try await pool.increment("counter", by: 1)
        #expect(try await pool.get("counter", as: UInt64.self) == 10)
        try await fixture.stop()
    }
}
