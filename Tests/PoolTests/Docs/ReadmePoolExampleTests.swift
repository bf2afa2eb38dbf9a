import Channels
import Codecs
import Pool
import Testing
import TestSupport

// The README's "a custom pooled protocol in 30 lines", kept compiling and working.

/// One pooled connection of a line protocol: send a line, get a line back.
final class LineConnection: PoolableConnection {
    let channel: any Channel
    init(channel: any Channel) { self.channel = channel }

    func ask(_ line: String) async throws -> String {
        let reply = self.channel.eventLoop.makePromise(of: ByteBuffer.self)
        try await self.channel.writeAndFlush(CorrelatedRequest(ByteBuffer(string: line + "\n"), promise: reply)).get()
        var bytes = try await reply.futureResult.get()
        return bytes.readString()
    }

    /// On the channel's loop: sends `line`; `done` gets the reply, on the loop. No promise,
    /// no future, no hop; the line leaves when the loop's turn ends.
    func ask(_ line: String, done: @escaping @Sendable (Result<String, any Error>) -> Void) {
        let request = CorrelatedRequest<ByteBuffer, ByteBuffer>(ByteBuffer(string: line + "\n"), promise: nil, onResponse: { reply in
            done(reply.map { var bytes = $0; return bytes.readString() })
        })
        self.channel.pipeline.syncOperations.write(request, promise: nil)
        self.channel.pipeline.syncOperations.flush()
    }
}

func makeLinePool(group: EventLoopGroup, host: String, port: Int) -> ConnectionPool<LineConnection> {
    var configuration = ConnectionPoolConfiguration(maxConnections: 20)
    // The README's code, with one change: under a sanitizer, with the whole suite running in
    // parallel, a waiter can wait longer than the default 10 s. This test checks answers.
    configuration.leaseTimeout = testPatience
    return ConnectionPool(group: group, configuration: configuration) { loop in
        ClientBootstrap(loop: loop)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandlers(
                    ByteToMessageHandler(LineFrameDecoder(maximumLength: 4096)),
                    RequestResponseHandler<ByteBuffer, ByteBuffer>())
            }
            .connect(host: host, port: port)
            .map { LineConnection(channel: $0) }
    }
}

@Suite("README pool examples")
struct ReadmePoolExampleTests {
    @Test("the custom pooled line protocol answers over 20 pooled connections")
    func linePool() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await startEchoServer(group: group)
        let pool = makeLinePool(group: group, host: "127.0.0.1", port: server.localAddress.port)
        let answers = try await withThrowingTaskGroup(of: String.self) { tasks in
            for index in 0..<100 { tasks.addTask { try await pool.withConnection { try await $0.ask("PING \(index)") } } }
            return try await tasks.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(answers == Set((0..<100).map { "PING \($0)" }))
        // The fast path: callers on the pool's loops and plain tasks alike.
        let fast = try await withThrowingTaskGroup(of: String.self) { tasks in
            for index in 0..<100 {
                let ask: @Sendable @concurrent () async throws -> String = {
                    try await pool.withConnectionOnLoop { connection, done in connection.ask("FAST \(index)", done: done) }
                }
                if index % 2 == 0 {
                    tasks.addTask(executorPreference: group.loops[index / 2 % 2], operation: ask)
                } else {
                    tasks.addTask(operation: ask)
                }
            }
            return try await tasks.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(fast == Set((0..<100).map { "FAST \($0)" }))
        #expect(await pool.statistics().total.open <= 20)
        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
