import Channels
import Testing

@testable import RESPClient

@Suite(
    "RESPClient against a real redis-server", .enabled(if: RedisServer.binary != nil, "redis-server is not installed"))
struct RESPClientTests {
    static func patient(_ configuration: inout RESPClient.Configuration) {
        // A sanitizer or a loaded machine can stall a test far past the defaults; the tests
        // check values and error types, not how long things take.
        configuration.responseTimeout = .seconds(300)
        configuration.pool.leaseTimeout = .seconds(300)
        configuration.pool.connectTimeout = .seconds(300)
    }

    @Test("10,000 concurrent callers whose values encode their own key read back 0 wrong values")
    func manyCallers() async throws {
        let server = try RedisServer()
        let group = try EventLoopGroup(loopCount: 2)
        var configuration = RESPClient.Configuration()
        Self.patient(&configuration)
        let client = RESPClient(host: "127.0.0.1", port: server.port, group: group, configuration: configuration)
        let wrong = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for caller in 0..<10_000 {
                let task: @Sendable () async throws -> Int = {
                    let key = "caller:\(caller)"
                    try await client.set(key, to: ByteBuffer(string: "value of \(key)"))
                    let value = try await client.get(key)
                    return value.map { String(buffer: $0) } == "value of \(key)" ? 0 : 1
                }
                if caller % 2 == 0 {
                    tasks.addTask(executorPreference: group.loops[caller / 2 % 2], operation: task)
                } else {
                    tasks.addTask(operation: task)
                }
            }
            return try await tasks.reduce(0, +)
        }
        #expect(wrong == 0)
        #expect(try await client.get("never set") == nil)
        #expect(try await client.increment("counter", by: 5) == 5)
        #expect(try await client.delete("counter", "caller:0") == 2)
        #expect(await client.connections.statistics().total.open <= 4)
        await client.shutdown()
        try await group.shutdownGracefully()
        server.kill()
    }

    @Test("an error reply is a typed error for its command only; the connection goes on")
    func serverErrors() async throws {
        let server = try RedisServer()
        let group = try EventLoopGroup(loopCount: 1)
        var configuration = RESPClient.Configuration(maxConnections: 1)
        Self.patient(&configuration)
        let client = RESPClient(host: "127.0.0.1", port: server.port, group: group, configuration: configuration)
        let unknown = try await #require(throws: RESPError.self) { try await client.send(["NOSUCHCOMMAND", "x"]) }
        #expect(unknown.code == .serverError)
        #expect(unknown.message.hasPrefix("ERR"))
        try await client.set("text", to: ByteBuffer(string: "not a number"))
        let wrongType = try await #require(throws: RESPError.self) { try await client.increment("text") }
        #expect(wrongType.code == .serverError)
        #expect(try await client.get("text") == ByteBuffer(string: "not a number"))
        #expect(await client.connections.statistics().total.created == 1)
        await client.shutdown()
        try await group.shutdownGracefully()
        server.kill()
    }

    @Test("a killed server fails callers with typed errors, and the pool recovers when it returns")
    func serverKilled() async throws {
        let server = try RedisServer()
        let group = try EventLoopGroup(loopCount: 2)
        var configuration = RESPClient.Configuration()
        Self.patient(&configuration)
        configuration.pool.connectTimeout = .seconds(2)
        configuration.pool.leaseTimeout = .seconds(5)
        let client = RESPClient(host: "127.0.0.1", port: server.port, group: group, configuration: configuration)
        try await client.set("k", to: ByteBuffer(string: "v"))
        server.kill()
        // Every call now fails with a RESPError (connection failed), none hangs or crashes.
        var failures = 0
        for _ in 0..<20 {
            do {
                _ = try await client.get("k")
            } catch let error as RESPError {
                #expect(error.code == .connectionFailed)
                failures += 1
            }
        }
        #expect(failures == 20)
        try server.start()
        // Back on the same port: the pool reconnects by itself (its backoff is bounded).
        var recovered = false
        for _ in 0..<600 where !recovered {
            if (try? await client.set("k", to: ByteBuffer(string: "again"))) != nil {
                recovered = true
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(recovered)
        #expect(try await client.get("k") == ByteBuffer(string: "again"))
        await client.shutdown()
        try await group.shutdownGracefully()
        server.kill()
    }
}
