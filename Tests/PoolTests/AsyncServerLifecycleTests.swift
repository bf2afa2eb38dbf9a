import Channels
import Logging
import ServiceLifecycle
import TestSupport
import Testing

/// An async server as a swift-service-lifecycle `Service`: it serves until the group's
/// graceful shutdown, which stops accepting and lets the connections in flight finish.
struct AsyncEchoService: Service {
    let server: AsyncServer<ByteBuffer, ByteBuffer>

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await self.server.serve { connection in
                for try await bytes in connection.inbound {
                    try await Task.sleep(for: .milliseconds(200)) // a request that takes a while
                    try await connection.outbound.write(bytes)
                }
            }
        } onGracefulShutdown: {
            Task { try await self.server.close() }
        }
    }
}

@Suite("Async servers in a ServiceGroup")
struct AsyncServerLifecycleTests {
    @Test("a graceful shutdown stops accepting and lets the connection in flight finish its request")
    func gracefulShutdown() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await ServerBootstrap(group: group)
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let services = ServiceGroup(
            services: [AsyncEchoService(server: server)],
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let running = Task { try await services.run() }
        let client = try await ClientBootstrap(group: group)
            .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let reply = Task {
            try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "in flight"))
                for try await bytes in inbound { return String(buffer: bytes) }
                return ""
            }
        }
        try await Task.sleep(for: .milliseconds(50)) // the request is being served
        await services.triggerGracefulShutdown()
        #expect(try await reply.value == "in flight")
        try await running.value // returns once the connection is done
        // No longer accepting: its listeners are closed. (Not "a connect to its address
        // fails": with every test running at once, another test's listener — or the
        // connecting socket itself, by a self-connect — can take the freed port; under TSan
        // such a connect once succeeded.)
        #expect(try await poll { server.listeningServer.listeners.allSatisfy { !$0.isActive } })
        try await group.shutdownGracefully()
    }
}
