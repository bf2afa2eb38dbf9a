// A user's program, from the README's snippets: an in-process memcache server and a pool in
// one ServiceGroup, String keys, swift-log to standard error, swift-metrics into a
// swift-prometheus registry (`import MemcacheClient` alone brings ByteBuffer, EventLoopGroup and
// MemcacheError). Exits 0 and prints "consumer: ok" when everything checks out.
import Logging
import MemcacheClient
import MemcacheServer
import Metrics
import Prometheus
import ServiceLifecycle

LoggingSystem.bootstrap(StreamLogHandler.standardError)
let registry = PrometheusCollectorRegistry()
MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
let logger = Logger(label: "consumer")

let group = try EventLoopGroup(loopCount: 2)
let server = try await InProcessMemcacheServer.start(group: group, configuration: .init(port: 0))
var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: server.localAddress.port, maxConnections: 4)
configuration.pool.logger = Logger(label: "cache")
let cache = MemcachePool(configuration: configuration, group: group)

let services = ServiceGroup(services: [server, cache], gracefulShutdownSignals: [.sigterm], logger: logger)
let running = Task { try await services.run() }

struct CheckFailed: Error, CustomStringConvertible {
    let description: String
}

/// Throws (ending the program with a non-zero status) unless `condition` holds.
func check(_ condition: Bool, _ what: @autoclosure () -> String) throws {
    if !condition { throw CheckFailed(description: what()) }
}

for i in 0..<100 { try await cache.set("user:\(i)", to: ByteBuffer(string: "name \(i)")) }
for i in 0..<100 {
    let value = try await cache.get("user:\(i)")
    try check(
        value.map { String(buffer: $0) } == "name \(i)", "user:\(i) read back wrong: \(String(describing: value))")
}
let many = try await cache.getMany(["user:1", "user:2", "nobody"])
try check(many.count == 2 && many["user:2"].map { String(buffer: $0) } == "name 2", "getMany: \(many)")
do {
    _ = try await cache.get("has space")
    try check(false, "an invalid key was accepted")
} catch let error as MemcacheError {
    try check(error.code == .invalidKey, "invalid key: \(error)")
}

await services.triggerGracefulShutdown()
try await running.value
do {
    _ = try await cache.get("user:1")
    try check(false, "the pool answered after shutdown")
} catch let error as MemcacheError {
    try check(error.code == .shutdown, "after shutdown: \(error)")
}

var exposition: [UInt8] = []
registry.emit(into: &exposition)
let text = String(decoding: exposition, as: UTF8.self)
for name in [
    "db_client_operation_duration", "db_client_connection_count", "db_client_connection_wait_time",
    "memcached_get_hits",
] {
    try check(text.contains(name), "metric \(name) missing from:\n\(text)")
}
try await group.shutdownGracefully()
print("consumer: ok")
