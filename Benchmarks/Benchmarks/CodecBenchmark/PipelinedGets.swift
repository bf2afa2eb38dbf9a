import Benchmark
import Channels
import Codecs
import Foundation
import Glibc
import MemcacheClient

/// The memcached and connection the pipelined benchmarks share (they run one at a time).
let pipeline = LockedValue<(group: EventLoopGroup?, server: Process?, connection: MemcacheConnection?)>((nil, nil, nil))

/// 1,000 gets per iteration on one connection, 100 in flight at a time, against a real
/// memcached started for the benchmark: meta `mg` (what MemcacheConnection.get sends) and
/// text `get` (which memcached answers with one write per request).
func registerPipelinedGets(keys: [MemcacheKey], value: ByteBuffer) {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/memcached") else { return }
    let variants: [(String, Bool, @Sendable (MemcacheConnection, MemcacheKey) async throws -> Void)] = [
        ("meta mg", false, { connection, key in _ = try await connection.get(key) }),
        ("text get", false, { connection, key in _ = try await connection.send(.get(keys: [key], withCAS: false)) }),
        ("meta mg, callers on the connection's loop", true, { connection, key in _ = try await connection.get(key) }),
    ]
    for (name, onLoop, get) in variants {
        Benchmark("Pipelined gets, one connection, 100 in flight: \(name)") { benchmark in
            guard let connection = pipeline.withLock({ $0.connection }) else { return }
            try await withTaskExecutorPreference(onLoop ? connection.channel.eventLoop : nil) {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    for lane in 0..<100 {
                        tasks.addTask {
                            for round in 0..<10 { try await get(connection, keys[(lane + round) % keys.count]) }
                        }
                    }
                    try await tasks.waitForAll()
                }
            }
        } setup: {
            let group = try EventLoopGroup(loopCount: 1)
            let port = 20000 + Int(getpid() % 20000)
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/memcached")
            server.arguments =
                ["-l", "127.0.0.1", "-p", "\(port)", "-U", "0", "-t", "2"] + (getuid() == 0 ? ["-u", "root"] : [])
            try server.run()
            var connection: MemcacheConnection?
            for _ in 0..<100 where connection == nil {
                connection = try? await MemcacheConnection.connect(host: "127.0.0.1", port: port, group: group)
                if connection == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            guard let connection else { throw MemcacheError(.serverError, "memcached did not start") }
            for key in keys { try await connection.set(key, to: value) }
            pipeline.withLock { $0 = (group, server, connection) }
        } teardown: {
            let state = pipeline.withLock { state in
                defer { state = (nil, nil, nil) }
                return state
            }
            try? await state.connection?.close()
            if let server = state.server {
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
            try await state.group?.shutdownGracefully()
        }
    }
}
