import Channels
import Codecs
import Foundation
import MemcacheClient
import NIOMemcachePeers
import NIOPosix
import Pool

// The pool side by side (issue 10's workload): 64 callers getting random keys of 10,000
// (100-byte values, stored first) through 8 connections on 2 client loops, against one
// memcached, for each client variant in turn. One JSON object per variant on standard
// output; `Benchmarks/memcache-side-by-side.sh` runs this next to the C load tool and prints
// the table with ratios.
//
// Usage: PoolSideBySide --port P [--tls-port Q --ca FILE] [--seconds S] [--only "NAME;NAME"]
//        PoolSideBySide --port P --resume-on-loops [--seconds S]
// The second form turns on `EventLoopGroup.keepResumedTasksOnLoops()` (process-wide, so in
// a process of its own) and measures plain-task callers of the default pool with it.

struct Options {
    var port = 11211
    var tlsPort: Int?
    var ca: String?
    var seconds = 5.0
    var only: Set<String>?
    /// Callers per connection of the default pool variants (nil: `MemcachePool`'s default).
    var depth: Int?
    var resumeOnLoops = false

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            if flag == "--resume-on-loops" {
                self.resumeOnLoops = true
                continue
            }
            let value = iterator.next() ?? ""
            switch flag {
            case "--port": self.port = Int(value) ?? self.port
            case "--tls-port": self.tlsPort = Int(value)
            case "--ca": self.ca = value
            case "--seconds": self.seconds = Double(value) ?? self.seconds
            case "--depth": self.depth = Int(value)
            case "--only": self.only = Set(value.split(separator: ";").map(String.init))
            default: FileHandle.standardError.write(Data("unknown option \(flag)\n".utf8))
            }
        }
    }
}

let options = Options(CommandLine.arguments)
let callers = 64
let keyCount = 10_000
let keyNames = (0..<keyCount).map { "key:" + String(repeating: "0", count: 8 - String($0).count) + String($0) }
let keys = try keyNames.map { try MemcacheKey($0) }
/// One copy of the keys per client loop (see `drive`): deep copies, so callers on different
/// loops share no key storage, while the keys still fit the caches as an application's
/// working set would (a copy per caller, 64 × 10,000 keys, would measure cache misses).
let keysPerLoop = try (0..<2).map { _ in
    try keyNames.map { try MemcacheKey(String(decoding: Array($0.utf8), as: UTF8.self)) }
}
let keyNamesPerLoop = (0..<2).map { _ in keyNames.map { String(decoding: Array($0.utf8), as: UTF8.self) } }

func report(_ name: String, _ measurement: Measurement) {
    let object: [String: Any] = [
        "variant": name,
        "ops_per_second": measurement.opsPerSecond.rounded(),
        "cpu_us_per_op": (measurement.cpuMicrosPerOperation * 1000).rounded() / 1000,
        "allocations_per_op": (measurement.allocationsPerOperation * 100).rounded() / 100,
        "context_switches_per_op": (measurement.contextSwitchesPerOperation * 1000).rounded() / 1000,
        "p99_us": (measurement.latency.percentile(99) / 10).rounded() / 100,
        "errors": measurement.errors,
    ]
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    print(String(decoding: data, as: UTF8.self))
}

func wanted(_ name: String) -> Bool {
    options.only.map { $0.contains(name) } ?? true
}

let tls = try options.ca.map { try TLSContext(configuration: .client(trustRoots: .file($0))) }

/// Stores the values every variant reads (the C tool stores the same keys), so that every
/// get is a hit, over TLS too.
func preload(port: Int, tls: TLSContext?) async throws {
    let group = try EventLoopGroup(loopCount: 1)
    let connection = try await MemcacheConnection.connect(host: "127.0.0.1", port: port, group: group, tls: tls)
    let value = ByteBuffer(bytes: [UInt8](repeating: UInt8(ascii: "x"), count: 100))
    try await withThrowingTaskGroup(of: Void.self) { group in
        for start in 0..<64 {
            group.addTask {
                for index in stride(from: start, to: keys.count, by: 64) {
                    try await connection.set(keys[index], to: value)
                }
            }
        }
        try await group.waitForAll()
    }
    try await connection.close()
    try await group.shutdownGracefully()
}

if options.resumeOnLoops, !EventLoopGroup.keepResumedTasksOnLoops() {
    FileHandle.standardError.write(Data("another library holds the runtime's global-enqueue hook\n".utf8))
    exit(1)
}
try await preload(port: options.port, tls: nil)
if let tlsPort = options.tlsPort, let tls { try await preload(port: tlsPort, tls: tls) }

/// `MemcachePool` with 2 loops × 4 connections; `leases` callers per connection (nil: the
/// pool's default).
func ours(_ name: String, leases: Int?, onLoops: Bool, port: Int, tls: TLSContext? = nil) async throws {
    guard wanted(name) else { return }
    let group = try EventLoopGroup(loopCount: 2)
    var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: port, maxConnections: 8, tls: tls)
    configuration.pool.maxConnectionsPerLoop = 4
    if let leases { configuration.pool.maxConcurrentLeasesPerConnection = leases }
    let pool = MemcachePool(configuration: configuration, group: group)
    let measurement = await drive(
        keys: keysPerLoop, callers: callers, seconds: options.seconds, onLoops: onLoops ? group.loops : nil
    ) {
        _ = try await pool.get($0)
    }
    report(name, measurement)
    await pool.shutdown()
    try await group.shutdownGracefully()
}

if options.resumeOnLoops {
    try await ours(
        "pool default, plain tasks resumed on loops (opt-in)", leases: options.depth, onLoops: false, port: options.port
    )
    exit(0)
}
try await ours("pool default, callers on loops", leases: options.depth, onLoops: true, port: options.port)
try await ours("pool default, plain tasks", leases: options.depth, onLoops: false, port: options.port)
try await ours("pool exclusive, callers on loops", leases: 1, onLoops: true, port: options.port)
try await ours("pool exclusive, plain tasks", leases: 1, onLoops: false, port: options.port)

if wanted("SwiftNIO pool exclusive, plain tasks") {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let pool = NIOMemcachePool(group: group, host: "127.0.0.1", port: options.port, maxConnections: 8)
    let measurement = await drive(keys: keyNamesPerLoop, callers: callers, seconds: options.seconds, onLoops: nil) {
        _ = try await pool.get($0)
    }
    report("SwiftNIO pool exclusive, plain tasks", measurement)
    for loopPool in pool.pools { try await loopPool.closeAll().get() }
    try await group.shutdownGracefully()
}

if wanted("SwiftNIO pipelined client, plain tasks") {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let client = try await NIOPipelinedMemcacheClient.connect(
        group: group, host: "127.0.0.1", port: options.port, perLoop: 4, valueSize: 100)
    let measurement = await drive(keys: keyNamesPerLoop, callers: callers, seconds: options.seconds, onLoops: nil) {
        _ = try await client.get($0)
    }
    report("SwiftNIO pipelined client, plain tasks", measurement)
    await client.close()
    try await group.shutdownGracefully()
}

if let tlsPort = options.tlsPort, let tls {
    try await ours(
        "pool default over TLS, callers on loops", leases: options.depth, onLoops: true, port: tlsPort, tls: tls)
}
