import Channels
import Codecs
import Pool
import TestSupport
import Testing

// The README's "a custom pooled protocol in 30 lines", kept compiling and working.

// `LineEncoder` and `LineConnection` are the Pool article's snippet (PoolArticleSnippets.swift).

func makeLinePool(group: EventLoopGroup, host: String, port: Int) -> ConnectionPool<LineConnection> {
    var configuration = ConnectionPoolConfiguration(maxConnections: 8)
    configuration.maxConcurrentLeasesPerConnection = 32 // callers share connections: pipelining
    // The README's code, with its timeouts patient: under a sanitizer, with the whole suite
    // running in parallel, a waiter can wait longer than the default 10 s, a connect longer than
    // 5 s, a reply longer than 30 s (the process stalled for half a minute at a time). This
    // test checks answers.
    configuration.leaseTimeout = testPatience
    configuration.connectTimeout = testPatience
    return ConnectionPool<LineConnection>(group: group, configuration: configuration) { [configuration] loop in
        let handler = LineConnection.Handler(
            encoder: LineEncoder(), decoder: LineFrameDecoder(maximumLength: 4096), responseTimeout: testPatience)
        return ClientBootstrap(loop: loop)
            .socketOptions(configuration.socketOptions)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(handler) }
            .connect(host: host, port: port)
            .map { LineConnection(channel: $0, handler: handler) }
    }
}

/// Counts the writes that reach the socket (each one a `writev`).
final class WriteCounter: ChannelOutboundHandler, @unchecked Sendable { // SAFETY: counter locked; handler loop-confined
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let writes: LockedValue<Int>
    init(writes: LockedValue<Int>) { self.writes = writes }
    func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        self.writes.withLock { $0 += 1 }
        context.write(data, promise: promise)
    }
}

@Suite("README pool examples")
struct ReadmePoolExampleTests {
    @Test("the custom pooled line protocol answers many callers over shared, pipelined connections")
    func linePool() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await startEchoServer(group: group)
        let pool = makeLinePool(group: group, host: "127.0.0.1", port: server.localAddress.port)
        let answers = try await withThrowingTaskGroup(of: String.self) { tasks in
            for index in 0..<1000 {
                tasks.addTask { try await pool.withConnection { try await $0.ask("PING \(index)") } }
            }
            return try await tasks.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(answers == Set((0..<1000).map { "PING \($0)" }))
        // The fast path: callers on the pool's loops and plain tasks alike.
        let fast = try await withThrowingTaskGroup(of: String.self) { tasks in
            for index in 0..<100 {
                let ask: @Sendable @concurrent () async throws -> String = {
                    try await pool.withConnectionOnLoop { connection, done in
                        connection.handler.send("FAST \(index)") { reply in done(reply.map { String(buffer: $0) }) }
                    }
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
        #expect(await pool.statistics().total.open <= 8)
        await pool.shutdown()
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test("the lines of a loop turn's callers leave in one write")
    func oneWritePerTurn() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let server = try await startEchoServer(group: group)
        let writes = LockedValue(0)
        let handler = LineConnection.Handler(
            encoder: LineEncoder(), decoder: LineFrameDecoder(maximumLength: 4096), responseTimeout: testPatience)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandlers(WriteCounter(writes: writes), handler)
            }
            .connect(to: server.localAddress).get()
        // 50 callers in one loop turn.
        let replies = LockedValue<[String]>([])
        try await channel.eventLoop.submit {
            for index in 0..<50 {
                handler.send("L\(index)") { reply in
                    if let line = try? reply.get() { replies.withLock { $0.append(String(buffer: line)) } }
                }
            }
        }.get()
        #expect(try await poll { replies.withLock { $0.count } == 50 })
        #expect(replies.withLock { $0 } == (0..<50).map { "L\($0)" })
        #expect(writes.withLock { $0 } == 1)
        try await channel.close().get()
        try await server.close()
        try await group.shutdownGracefully()
    }
}
