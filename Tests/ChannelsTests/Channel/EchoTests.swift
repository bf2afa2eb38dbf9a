import Channels
import TestSupport
import Testing

@Suite("Echo over real sockets")
struct EchoTests {
    @Test("one client echoes a small message")
    func smallEcho() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)
        let loop = group.next()
        let done = loop.makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(loop: loop)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(ByteCollector(expected: 5, done: done))
            }
            .connect(to: server.localAddress).get()
        try await channel.writeAndFlush(ByteBuffer(string: "hello")).get()
        #expect(try await done.futureResult.get() == Array("hello".utf8))
        try await channel.close().get()
        try await server.close()
    }

    @Test(
        "200 clients each push 1 MiB in random-sized writes and get every byte back in order",
        arguments: [ServerBootstrap.AcceptStrategy.listenerPerLoop, .singleAcceptor])
    func manyClientsEchoOneMebibyte(strategy: ServerBootstrap.AcceptStrategy) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group, strategy: strategy)
        // One random MiB, rotated differently for each client: bytes crossing between
        // connections would show. (200 MiB generated a byte or word at a time took minutes of
        // CPU under a sanitizer, and held the concurrency pool from every other test.)
        let base = randomBytes(count: 1 << 20, seed: 1)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for client in 0..<200 {
                tasks.addTask {
                    try await Self.pushAndVerify(
                        group: group, to: server.localAddress, payload: rotated(base, by: client * 4099),
                        seed: UInt64(client))
                }
            }
            try await tasks.waitForAll()
        }
        try await server.close()
    }

    private static func pushAndVerify(group: EventLoopGroup, to address: SocketAddress, payload: [UInt8], seed: UInt64)
        async throws
    {
        let size = payload.count
        let loop = group.next()
        let done = loop.makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(loop: loop)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(ByteCollector(expected: size, done: done))
            }
            .connect(to: address).get()
        var generator = SplitMix64(seed: seed ^ 0xABCD)
        var offset = 0
        var writes: [EventLoopFuture<Void>] = []
        while offset < size {
            let length = min(size - offset, Int.random(in: 1...32 * 1024, using: &generator))
            writes.append(channel.write(ByteBuffer(bytes: payload[offset..<offset + length])))
            offset += length
            if writes.count % 8 == 0 { channel.flush() }
        }
        channel.flush()
        for write in writes { try await write.get() }
        let echoed = try await done.futureResult.get()
        #expect(echoed.count == size)
        #expect(sameBytes(echoed, payload), "client \(seed): echoed bytes differ")
        try await channel.close().get()
    }
}
