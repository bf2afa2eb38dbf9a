// The README's example, kept compiling and passing: a user's own code tested against an
// in-process memcached.
import Channels
import Codecs
import MemcacheClient
import MemcacheServer
import Pool
import Testing

/// A user's code under test: greetings made once, then served from memcached.
struct GreetingService {
    let cache: MemcachePool
    var made = 0

    mutating func greeting(for name: String) async throws -> String {
        let key = try MemcacheKey("greeting:\(name)")
        if var cached = try await self.cache.get(key) { return cached.readString() }
        self.made += 1
        let greeting = "Hello, \(name)!"
        try await self.cache.set(key, to: ByteBuffer(string: greeting), ttl: 60)
        return greeting
    }
}

@Test("a greeting is made once, then comes from the cache")
func greetingIsCached() async throws {
    let group = try EventLoopGroup(loopCount: 1)
    let server = try await InProcessMemcacheServer.start(group: group, configuration: .init(port: 0))
    let pool = MemcachePool(host: "127.0.0.1", port: server.localAddress.port, maxConnections: 2, group: group)

    var service = GreetingService(cache: pool)
    #expect(try await service.greeting(for: "Ada") == "Hello, Ada!")
    #expect(try await service.greeting(for: "Ada") == "Hello, Ada!")
    #expect(service.made == 1)
    #expect(server.statistics.getHits == 1)

    await pool.shutdown()
    await server.shutdown()
    try await group.shutdownGracefully()
}
