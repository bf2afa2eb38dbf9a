import Channels
import TestSupport
import Testing

@testable import mcpool

@Suite("mcpool echo-serve")
struct EchoServeTests {
    @Test("the async echo server echoes every byte of many connections, each served on its own loop")
    func asyncEcho() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await AsyncEcho.bind(group: group, host: "127.0.0.1", port: 0)
        let serving = Task { try await AsyncEcho.serve(server) }
        let payload = ByteBuffer(bytes: (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<16 {
                tasks.addTask {
                    let client = try await ClientBootstrap(group: group)
                        .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
                    let echoed = try await client.executeThenClose { inbound, outbound in
                        try await outbound.write(payload)
                        outbound.finish()
                        var echoed = ByteBuffer()
                        for try await bytes in inbound { echoed.writeImmutableBuffer(bytes) }
                        return echoed
                    }
                    #expect(echoed == payload)
                }
            }
            try await tasks.waitForAll()
        }
        try await server.close()
        try await serving.value
        try await group.shutdownGracefully()
    }
}
