import Channels
import MemcacheClient
import TestSupport
import Testing

/// A keep-alive ping and the callers of the same moment, against a server that never answers
/// the ping (a server that answers it quickly hides where a caller's request goes).
@Suite("Keep-alive pings and callers")
struct KeepAlivePingTests {
    @Test(
        "a get that comes while an idle connection's ping is unanswered goes on another connection and gets its own reply (behind the ping, the ping took the get's reply and the get waited for the response timeout)"
    )
    func getDuringUnansweredPing() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        // Each get is answered with its key as the value; the ping (`mn`) is never answered.
        let server = try await ScriptedServer.start(group: group) { _, line in
            guard line.hasPrefix("mg ") else { return .ignore }
            let key = line.split(separator: " ")[1]
            return .reply("VA \(key.utf8.count)\r\n\(key)\r\n")
        }
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: server.port, maxConnections: 2)
        waitPatiently(&configuration)
        // Pinged soon after it idles; the unanswered ping stays outstanding for the whole test.
        configuration.pool.keepAlive = .init(interval: .milliseconds(50), timeout: testPatience)
        let pool = MemcachePool(configuration: configuration, group: group)

        #expect(try await pool.get("first") == ByteBuffer(string: "first"))
        let pinged = { server.lines.withLock { $0.first { $0.line == "mn" }?.connection } }
        #expect(try await poll { pinged() != nil })
        #expect(try await pool.get("second") == ByteBuffer(string: "second"))
        let second = server.lines.withLock { $0.first { $0.line.hasPrefix("mg second") }?.connection }
        #expect(second != nil && second != pinged())

        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
