import Benchmark
import Channels
import Codecs
import Foundation
import MemcacheClient
import Pool

// The cache policies against a real memcached the benchmark starts (no SwiftNIO: this target
// builds without it):
// - a cold-key stampede: 1,000 concurrent callers of one missing key whose value takes 10 ms
//   to compute — `getOrCompute` (one compute, everybody else waits for its value) against the
//   naive get, miss, compute, set. `computes` counts how many times the value was computed.
// - 10,000 sets of 100 B: one `setMany` (quiet exchanges) against 10,000 concurrent `set`
//   calls pipelined over the pool's connections.
// - 100,000 sets of 1 KiB through `setMany`: the peak resident memory with the default limits
//   (exchanges of 4 MiB, two in flight) against one exchange holding the whole batch.

let computes = BenchmarkMetric.custom("computes")
let stampedeCallers = 1_000
let bulkKeys = 10_000
let computeTime = Duration.milliseconds(10)

/// A memcached on a free port, and a pool over it, shared by every benchmark of the run.
final class Fixture: Sendable {
    let server: Process
    let group: EventLoopGroup
    let pool: MemcachePool
    let keyCounter = LockedValue(0)

    init() async throws {
        let port = 30000 + Int(getpid() % 20000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/memcached")
        server.arguments =
            ["-l", "127.0.0.1", "-p", "\(port)", "-U", "0", "-t", "2", "-m", "1024"]
            + (getuid() == 0 ? ["-u", "root"] : [])
        // Not our stdout: the benchmark runner reads that pipe until every writer closes it.
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        self.server = server
        self.group = try EventLoopGroup(loopCount: 2)
        self.pool = MemcachePool(
            configuration: MemcachePool.Configuration(host: "127.0.0.1", port: port, maxConnections: 8),
            group: self.group)
        for _ in 0..<100 {
            if (try? await self.pool.version()) != nil { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw MemcacheError(.connectFailed, "memcached did not start")
    }

    /// A key nobody used yet: each iteration's stampede starts cold.
    func freshKey(_ prefix: String) throws -> MemcacheKey {
        let number = self.keyCounter.withLock { counter in
            counter += 1
            return counter
        }
        return try MemcacheKey("\(prefix)-\(getpid())-\(number)")
    }

    func stop() async throws {
        await self.pool.shutdown()
        try await self.group.shutdownGracefully()
        kill(self.server.processIdentifier, SIGKILL)
        self.server.waitUntilExit()
    }
}

let fixture = LockedValue<Fixture?>(nil)

func start() async throws {
    guard fixture.withLock({ $0 }) == nil else { return }
    let started = try await Fixture()
    fixture.withLock { $0 = started }
}

func stop() async throws {
    let running = fixture.withLock { running in
        defer { running = nil }
        return running
    }
    try await running?.stop()
}

/// Runs `caller` `count` times concurrently.
func concurrently(_ count: Int, _ caller: @escaping @Sendable (Int) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        for index in 0..<count { tasks.addTask { try await caller(index) } }
        try await tasks.waitForAll()
    }
}

/// A benchmark against the run's memcached: started before, stopped after.
func withMemcached(
    _ name: String, configuration: Benchmark.Configuration = Benchmark.defaultConfiguration,
    _ body: @escaping @Sendable (Benchmark, Fixture) async throws -> Void
) {
    Benchmark(name, configuration: configuration) { benchmark in
        guard let running = fixture.withLock({ $0 }) else { return }
        try await body(benchmark, running)
    } setup: {
        try await start()
    } teardown: {
        try await stop()
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, computes], maxDuration: .seconds(10), maxIterations: 50)
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/memcached") else { return }

    withMemcached("Cold-key stampede, 1,000 callers: getOrCompute") { benchmark, fixture in
        for _ in benchmark.scaledIterations {
            let key = try fixture.freshKey("stampede")
            let ran = LockedValue(0)
            try await concurrently(stampedeCallers) { _ in
                _ = try await fixture.pool.getOrCompute(key, ttl: 60) {
                    ran.withLock { $0 += 1 }
                    try await Task.sleep(for: computeTime)
                    return ByteBuffer(string: "computed value")
                }
            }
            benchmark.measurement(computes, ran.withLock { $0 })
        }
    }

    withMemcached("Cold-key stampede, 1,000 callers: naive get, compute, set") { benchmark, fixture in
        for _ in benchmark.scaledIterations {
            let key = try fixture.freshKey("naive")
            let ran = LockedValue(0)
            try await concurrently(stampedeCallers) { _ in
                if try await fixture.pool.get(key) != nil { return }
                ran.withLock { $0 += 1 }
                try await Task.sleep(for: computeTime)
                try await fixture.pool.set(key, to: ByteBuffer(string: "computed value"), ttl: 60)
            }
            benchmark.measurement(computes, ran.withLock { $0 })
        }
    }

    let value = ByteBuffer(string: String(repeating: "v", count: 100))
    withMemcached("10,000 sets of 100 B: setMany") { benchmark, fixture in
        var values: [MemcacheKey: ByteBuffer] = [:]
        for index in 0..<bulkKeys { values[try MemcacheKey("bulk-\(index)")] = value }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let failures = try await fixture.pool.setMany(values)
            precondition(failures.isEmpty, "setMany failed: \(failures.first.map { "\($0)" } ?? "")")
        }
        benchmark.stopMeasurement()
    }

    let kibibyte = ByteBuffer(string: String(repeating: "k", count: 1024))
    let unbounded = MemcacheBulkLimits(maximumCommands: 1 << 30, maximumBytes: 1 << 40, maximumInFlight: 1)
    for (name, limits) in [("default limits", MemcacheBulkLimits()), ("one exchange for the whole batch", unbounded)] {
        withMemcached(
            "100,000 sets of 1 KiB: setMany, \(name)",
            configuration: .init(
                metrics: [.wallClock, .peakMemoryResident], maxDuration: .seconds(20), maxIterations: 5)
        ) { benchmark, fixture in
            var values: [MemcacheKey: ByteBuffer] = [:]
            for index in 0..<100_000 { values[try MemcacheKey("large-\(index)")] = kibibyte }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let failures = try await fixture.pool.setMany(values, limits: limits)
                precondition(failures.isEmpty, "setMany failed: \(failures.first.map { "\($0)" } ?? "")")
            }
            benchmark.stopMeasurement()
        }
    }

    withMemcached("10,000 sets of 100 B: pipelined set calls") { benchmark, fixture in
        let keys = try (0..<bulkKeys).map { try MemcacheKey("bulk-\($0)") }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await concurrently(bulkKeys) { index in try await fixture.pool.set(keys[index], to: value) }
        }
        benchmark.stopMeasurement()
    }
}
