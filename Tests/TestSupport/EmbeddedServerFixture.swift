public import Channels
public import MemcacheServer

/// The in-process memcache server on a free loopback port, with its own loops.
public struct EmbeddedServerFixture: Sendable {
    public let group: EventLoopGroup
    public let server: InProcessMemcacheServer
    public var port: Int { self.server.localAddress.port }

    public init(loops: Int = 2, configure: (inout InProcessMemcacheServer.Configuration) -> Void = { _ in })
        async throws
    {
        self.group = try EventLoopGroup(loopCount: loops)
        var configuration = InProcessMemcacheServer.Configuration(port: 0)
        // A sanitizer can stall a test for 30–40 s in the middle of a request: the 30 s default
        // would close it. Tests of the timeout set their own.
        configuration.incompleteRequestTimeout = testPatience
        configure(&configuration)
        do {
            self.server = try await InProcessMemcacheServer.start(group: self.group, configuration: configuration)
        } catch {
            try? await self.group.shutdownGracefully()
            throw error
        }
    }

    public func stop() async throws {
        await self.server.shutdown(deadline: testPatience)
        try await self.group.shutdownGracefully()
    }
}
