import Channels
import Foundation
import TestSupport
import Testing

@Suite("Many TLS connections", .serialized)
struct TLSManyConnectionsTests {
    @Test("500 concurrent TLS connections on 2 loops complete and close cleanly, leaving no descriptor behind")
    func fiveHundredConnections() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group, configuration: .server(certificateChain: chain, privateKey: key))
        let clientContext = try TLSContext.patient(configuration: .client(trustRoots: Certificates.ca))
        let port = server.server.localAddress.port
        let listeners = server.server.listeners.count
        #expect(openSocketCount(port: port) == listeners)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for index in 0..<500 {
                tasks.addTask {
                    let loop = group.next()
                    let done = loop.makePromise(of: [UInt8].self)
                    let message = ByteBuffer(string: "connection \(index)")
                    let channel = try await ClientBootstrap(loop: loop)
                        .channelInitializer { channel in
                            try channel.pipeline.syncOperations.addHandlers(
                                try TLSHandler(context: clientContext, serverHostname: "localhost"),
                                ByteCollector(expected: message.readableBytes, done: done))
                        }
                        .connect(to: server.server.localAddress).get()
                    try await channel.writeAndFlush(message).get()
                    #expect(try await done.futureResult.get() == Array("connection \(index)".utf8))
                    try await channel.close().get()
                }
            }
            try await tasks.waitForAll()
        }
        // The server side closes once it has answered our close_notify.
        for _ in 0..<500 where openSocketCount(port: port) > listeners { try await Task.sleep(for: .milliseconds(10)) }
        #expect(
            openSocketCount(port: port) == listeners, "sockets left open: \(openSocketCount(port: port) - listeners)")
        let errors = server.observers.withLock { $0.flatMap(\.errors) }
        #expect(errors.isEmpty, "\(errors.prefix(3))")
        #expect(server.observers.withLock { $0.count } == 500)
        try await server.server.close()
        try await group.shutdownGracefully()
    }
}
