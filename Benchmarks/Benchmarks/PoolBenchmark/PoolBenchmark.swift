import Benchmark
import Channels
import Codecs
import Foundation
import Glibc
import MemcacheClient
import NIOMemcachePeers
import NIOPosix
import Pool

// The pool benchmarks:
// - the cost of one lease + release on a warm pool (caller on the loop: no hop),
// - `MemcachePool.get` with 64 concurrent callers over 8 connections against a real
//   memcached, next to a SwiftNIO pool (per-loop sub-pools, exclusive leases, same limits)
//   in the same run. Each iteration is 64 callers × 100 gets; `request p99 (us)` is the
//   99th percentile of single-get latency within the iteration.

let callers = 64
let getsPerCaller = 100
let keyCount = 1_000

struct PoolBenchState {
    var memcached: Process?
    var port = 0
    var group: EventLoopGroup?
    var nioGroup: MultiThreadedEventLoopGroup?
}

let state = LockedValue(PoolBenchState())

func startMemcached() async throws -> Int {
    if let port = state.withLock({ $0.memcached != nil ? $0.port : nil }) { return port }
    let port = 20000 + Int(getpid() % 20000)
    let server = Process()
    server.executableURL = URL(fileURLWithPath: "/usr/bin/memcached")
    server.arguments =
        ["-l", "127.0.0.1", "-p", "\(port)", "-U", "0", "-t", "2", "-c", "4096"]
        + (getuid() == 0 ? ["-u", "root"] : [])
    // Not the benchmark's own stdout: the runner reads that pipe to its end, and a server
    // holding it open would keep the run from finishing.
    server.standardOutput = FileHandle.nullDevice
    server.standardError = FileHandle.nullDevice
    try server.run()
    let group = try EventLoopGroup(loopCount: 1)
    var connection: MemcacheConnection?
    for _ in 0..<100 where connection == nil {
        connection = try? await MemcacheConnection.connect(host: "127.0.0.1", port: port, group: group)
        if connection == nil { try await Task.sleep(for: .milliseconds(20)) }
    }
    guard let connection else { throw MemcacheError(.serverError, "memcached did not start") }
    let value = ByteBuffer(bytes: [UInt8](repeating: 0x61, count: 100))
    for index in 0..<keyCount { try await connection.set(MemcacheKey("key:\(index)"), to: value) }
    for index in 0..<mixedKeyCount { try await connection.set(MemcacheKey("mixed:\(index)"), to: value) }
    try await connection.close()
    try await group.shutdownGracefully()
    state.withLock {
        $0.memcached = server
        $0.port = port
    }
    return port
}

func stopMemcached() {
    if let server = state.withLock({ $0.memcached }) {
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
    }
    state.withLock { $0.memcached = nil }
}

/// memcached and a 2-loop group of this library for one benchmark.
func startOurs() async throws {
    _ = try await startMemcached()
    let group = try EventLoopGroup(loopCount: 2)
    state.withLock { $0.group = group }
}

func stopOurs() async throws {
    let group = state.withLock { state in
        defer { state.group = nil }
        return state.group
    }
    try await group?.shutdownGracefully()
    stopMemcached()
}

/// memcached and a 2-thread SwiftNIO group for one benchmark.
func startNIO() async throws {
    _ = try await startMemcached()
    state.withLock { $0.nioGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2) }
}

func stopNIO() async throws {
    let group = state.withLock { state in
        defer { state.nioGroup = nil }
        return state.nioGroup
    }
    try await group?.shutdownGracefully()
    stopMemcached()
}

/// The key of a caller's round in the get-only workload.
func getKey(_ caller: Int, _ round: Int) -> String { "key:\((caller * 7 + round * 13) % keyCount)" }

/// The mixed workload (issue 6): 10,000 keys, 9 gets to 1 set, 100 B values. Returns the key
/// and whether this round is a set.
let mixedKeyCount = 10_000
func mixedOperation(_ caller: Int, _ round: Int) -> (key: String, isSet: Bool) {
    ("mixed:\((caller * 7_919 + round * 104_729) % mixedKeyCount)", (caller + round) % 10 == 0)
}

/// 64 callers × 100 operations; returns the p99 latency in microseconds.
func runCallers(
    onLoops loops: [any EventLoop]? = nil,
    _ operation: @escaping @Sendable (_ caller: Int, _ round: Int) async throws -> Void
) async throws -> Int {
    let latencies = try await withThrowingTaskGroup(of: [UInt64].self) { tasks in
        for caller in 0..<callers {
            let body: @Sendable () async throws -> [UInt64] = {
                var mine: [UInt64] = []
                mine.reserveCapacity(getsPerCaller)
                for round in 0..<getsPerCaller {
                    let started = Deadline.now()
                    try await operation(caller, round)
                    mine.append(UInt64((Deadline.now() - started).nanoseconds))
                }
                return mine
            }
            if let loops {
                tasks.addTask(executorPreference: loops[caller % loops.count], operation: body)
            } else {
                tasks.addTask(operation: body)
            }
        }
        var all: [UInt64] = []
        for try await part in tasks { all += part }
        return all
    }
    let sorted = latencies.sorted()
    return Int(sorted[sorted.count * 99 / 100] / 1000)
}

let p99 = BenchmarkMetric.custom("request p99 (us)")

/// Connects (one untimed round), then runs the callers once per iteration, recording each
/// iteration's p99 latency.
func measure(
    _ benchmark: Benchmark, onLoops loops: [any EventLoop]? = nil,
    _ operation: @escaping @Sendable (_ caller: Int, _ round: Int) async throws -> Void
) async throws {
    _ = try await runCallers(operation)
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
        benchmark.measurement(p99, try await runCallers(onLoops: loops, operation))
    }
    benchmark.stopMeasurement()
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(5), maxIterations: 1_000_000)

    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/memcached") else { return }

    // MARK: Lease + release on a warm pool

    Benchmark(
        "Lease+release x1000, warm pool, caller on the loop",
        configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .kilo)
    ) { benchmark in
        guard let group = state.withLock({ $0.group }) else { return }
        let port = state.withLock { $0.port }
        let pool = MemcachePool(host: "127.0.0.1", port: port, maxConnections: 2, group: group)
        let loop = group.loops[0]
        try await withTaskExecutorPreference(loop) {
            try await pool.connections.withConnection { _ in } // warm
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                let lease = try await pool.connections.lease()
                lease.release()
            }
            benchmark.stopMeasurement()
        }
        await pool.shutdown()
    } setup: {
        try await startOurs()
    } teardown: {
        try await stopOurs()
    }

    // MARK: 64 callers, 8 connections, real memcached

    // `leases` nil: the pool's default (32 pipelined per connection since stop 55).
    let variants: [(name: String, leases: Int?, onLoops: Bool)] = [
        ("MemcachePool exclusive leases", 1, false),
        ("MemcachePool exclusive leases, callers on the loops", 1, true),
        ("MemcachePool default (pipelined)", nil, false),
        ("MemcachePool default, callers on the loops", nil, true),
    ]
    for variant in variants {
        Benchmark(
            "64 callers x 100 gets, 8 connections: \(variant.name)",
            configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal, p99])
        ) { benchmark in
            guard let group = state.withLock({ $0.group }) else { return }
            let port = state.withLock { $0.port }
            var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: port, maxConnections: 8)
            if let leases = variant.leases { configuration.pool.maxConcurrentLeasesPerConnection = leases }
            let pool = MemcachePool(configuration: configuration, group: group)
            try await measure(benchmark, onLoops: variant.onLoops ? group.loops : nil) {
                _ = try await pool.get(MemcacheKey(getKey($0, $1)))
            }
            await pool.shutdown()
        } setup: {
            try await startOurs()
        } teardown: {
            try await stopOurs()
        }
    }

    Benchmark(
        "64 callers x 100 gets, 8 connections: SwiftNIO pool, exclusive leases",
        configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal, p99])
    ) { benchmark in
        guard let group = state.withLock({ $0.nioGroup }) else { return }
        let pool = NIOMemcachePool(group: group, host: "127.0.0.1", port: state.withLock { $0.port }, maxConnections: 8)
        try await measure(benchmark) { _ = try await pool.get(getKey($0, $1)) }
        for loopPool in pool.pools { try await loopPool.closeAll().get() }
    } setup: {
        try await startNIO()
    } teardown: {
        try await stopNIO()
    }

    // MARK: The mixed workload: 9 gets to 1 set, 10,000 keys, 64 callers, 8 connections

    let mixedValue = ByteBuffer(bytes: [UInt8](repeating: 0x62, count: 100))
    let mixedVariants: [(name: String, onLoops: Bool)] = [
        ("MemcachePool default", false),
        ("MemcachePool default, callers on the loops", true),
    ]
    for variant in mixedVariants {
        Benchmark(
            "Mixed 9:1, 64 callers x 100 ops, 8 connections: \(variant.name)",
            configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal, p99])
        ) { benchmark in
            guard let group = state.withLock({ $0.group }) else { return }
            let port = state.withLock { $0.port }
            var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: port, maxConnections: 8)
            configuration.pool.maxConnectionsPerLoop = 4
            let pool = MemcachePool(configuration: configuration, group: group)
            let operation: @Sendable (Int, Int) async throws -> Void = { caller, round in
                let (key, isSet) = mixedOperation(caller, round)
                if isSet {
                    try await pool.set(MemcacheKey(key), to: mixedValue)
                } else {
                    _ = try await pool.get(MemcacheKey(key))
                }
            }
            try await measure(benchmark, onLoops: variant.onLoops ? group.loops : nil, operation)
            await pool.shutdown()
        } setup: {
            try await startOurs()
        } teardown: {
            try await stopOurs()
        }
    }

    Benchmark(
        "Mixed 9:1, 64 callers x 100 ops, 8 connections: SwiftNIO pipelined client",
        configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal, p99])
    ) { benchmark in
        guard let group = state.withLock({ $0.nioGroup }) else { return }
        let client = try await NIOPipelinedMemcacheClient.connect(
            group: group, host: "127.0.0.1", port: state.withLock { $0.port }, perLoop: 4, valueSize: 100)
        let operation: @Sendable (Int, Int) async throws -> Void = { caller, round in
            let (key, isSet) = mixedOperation(caller, round)
            if isSet {
                try await client.set(key)
            } else {
                _ = try await client.get(key)
            }
        }
        try await measure(benchmark, operation)
        await client.close()
    } setup: {
        try await startNIO()
    } teardown: {
        try await stopNIO()
    }
}
