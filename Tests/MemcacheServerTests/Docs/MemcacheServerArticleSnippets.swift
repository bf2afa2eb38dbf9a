// swift-format-ignore-file
// (Documentation snippets keep their hand layout, aligned comments included:
// DocumentationSnippetTests compares them with the articles line for line.)
// snippet: memcache-server-test
import MemcacheClient
import MemcacheServer
import Testing

@Test func greetingIsCachedInProcess() async throws {
    let group = try EventLoopGroup(loopCount: 1)
    let server = try await InProcessMemcacheServer.start(group: group, configuration: .init(port: 0))  // 0: a free port
    let pool = MemcachePool(host: "127.0.0.1", port: server.localAddress.port, maxConnections: 2, group: group)

    try await pool.set("greeting", to: ByteBuffer(string: "hello"))
    #expect(try await pool.get("greeting") == ByteBuffer(string: "hello"))
    #expect(server.statistics.getHits == 1)

    await pool.shutdown()
    await server.shutdown()
    try await group.shutdownGracefully()
}
// end snippet
