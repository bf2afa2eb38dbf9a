import Channels
import Codecs
import Foundation
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

/// A directory of its own for a socket file, removed by `cleanUp`.
struct TemporarySocketDirectory {
    let path: String

    init() throws {
        self.path = NSTemporaryDirectory() + "mc-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: self.path) }
}

@Suite(
    "MemcachePool over a Unix-domain socket", .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct UnixSocketPoolTests {
    @Test(
        "against memcached -s PATH: every command through the pool, in the meta and the text protocol",
        arguments: [MemcacheProtocol.meta, .text])
    func pool(wireProtocol: MemcacheProtocol) async throws {
        let directory = try TemporarySocketDirectory()
        defer { directory.cleanUp() }
        let group = try EventLoopGroup(loopCount: 2)
        let path = directory.path + "/memcached.sock"
        let server = try await MemcachedServer(unixSocketPath: path, group: group)
        var configuration = MemcachePool.Configuration(unixSocketPath: path, maxConnections: 4)
        configuration.wireProtocol = wireProtocol
        waitPatiently(&configuration)
        let pool = MemcachePool(configuration: configuration, group: group)
        #expect(pool.connections.configuration.name == "unix:\(path)")

        try await pool.set("k", to: ByteBuffer(string: "v"), flags: 4)
        #expect(try await pool.get("k") == ByteBuffer(string: "v"))
        #expect(try await pool.getItem("k")?.flags == 4)
        #expect(try await pool.add("k", value: ByteBuffer(string: "w")) == false)
        #expect(try await pool.append("k", ByteBuffer(string: "!")))
        #expect(try await pool.getMany(["k", "absent"]) == [MemcacheKey("k"): ByteBuffer(string: "v!")])
        try await pool.set("n", to: ByteBuffer(string: "1"))
        #expect(try await pool.increment("n", by: 2) == 3)
        #expect(try await pool.touch("k", ttl: 60))
        #expect(try await pool.delete("k"))
        #expect(try await pool.stats()["pid"] != nil)
        // Many callers at once over the socket, each with its own value.
        let wrong = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for index in 0..<500 {
                tasks.addTask {
                    let key = "caller-\(index)"
                    try await pool.set(key, to: ByteBuffer(string: key))
                    return try await pool.get(key) == ByteBuffer(string: key) ? 0 : 1
                }
            }
            return try await tasks.reduce(0, +)
        }
        #expect(wrong == 0)

        await pool.shutdown()
        server.stop()
        try await group.shutdownGracefully()
    }

    @Test("a path where nothing listens fails with connectFailed, naming the socket")
    func nothingListens() async throws {
        let directory = try TemporarySocketDirectory()
        defer { directory.cleanUp() }
        let group = try EventLoopGroup(loopCount: 1)
        do {
            _ = try await MemcacheConnection.connect(unixDomainSocketPath: directory.path + "/none.sock", group: group)
            Issue.record("connected to nothing")
        } catch let error as MemcacheError {
            #expect(error.code == .connectFailed)
            #expect(error.message.contains("unix:\(directory.path)/none.sock"))
        }
        try await group.shutdownGracefully()
    }
}
