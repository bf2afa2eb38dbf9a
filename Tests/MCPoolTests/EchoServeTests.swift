import ArgumentParser
import Channels
import TestSupport
import Testing

@testable import mcpool

@Suite("mcpool echo-serve")
struct EchoServeTests {
    @Test("serve and echo-serve refuse a port outside 0...65535 before anything binds (never wrapped round)")
    func portsOutOfRange() throws {
        for bad in ["80000", "65536", "-1"] {
            #expect(throws: (any Error).self) { try Serve.parse(["--port=\(bad)"]) }
            #expect(throws: (any Error).self) { try Serve.parse(["--udp-port=\(bad)"]) }
            #expect(throws: (any Error).self) { try EchoServe.parse(["--port=\(bad)"]) }
        }
        #expect(throws: (any Error).self) { try EchoServe.parse(["--loops", "0"]) }
        #expect(try Serve.parse(["--port", "65535"]).port == 65535)
        #expect(try EchoServe.parse(["--port", "0"]).port == 0)
    }

    @Test("an option's seconds become a span that saturates: 1e300 or inf is for ever, never a trap")
    func secondsSaturate() {
        #expect(TimeAmount(seconds: 1.5) == .milliseconds(1500))
        #expect(TimeAmount(seconds: 1e300) == .nanoseconds(.max))
        #expect(TimeAmount(seconds: .infinity) == .nanoseconds(.max))
        #expect(TimeAmount(seconds: -.infinity) == .nanoseconds(.min))
        #expect(TimeAmount(seconds: .nan) == .zero)
        #expect(TimeAmount(seconds: 9.223372036854775807e9) == .nanoseconds(.max))
    }

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
