import Channels
import TestSupport
import Testing

@Suite("Async channels")
struct AsyncChannelTests {
    @Test("a fast producer leaves at most the high watermark buffered, and reading resumes when the consumer drains")
    func inboundBackpressure() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let configuration = AsyncChannel<ByteBuffer, ByteBuffer>.Configuration(
            inboundHighWatermark: 4, inboundLowWatermark: 1)
        // Fixed socket buffers of 256 KiB: far below the 8 MiB sent, so the producer must stall.
        // (Left to autotuning, the receive buffer may grow to tcp_rmem's maximum, 32 MiB here:
        // on a loaded machine the kernel once took all 8 MiB. Not below loopback's 64 KiB
        // segment size either, which makes the sender wait for zero-window probes, hundreds of
        // ms each, once reading resumes.)
        let server = try await ServerBootstrap(group: group)
            .childChannelOption(.receiveBufferSize, value: 256 * 1024)
            .bind(
                host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self,
                configuration: configuration)
        let producer = try await ClientBootstrap(group: group)
            .channelOption(.sendBufferSize, value: 256 * 1024)
            .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        var connections = server.connections.makeAsyncIterator()
        let connection = try #require(try await connections.next())

        // 8 MiB is far more than the socket buffers hold while nobody reads: the producer must
        // stall too.
        let total = 8 * 1024 * 1024
        let chunk = ByteBuffer(bytes: [UInt8](repeating: 0x62, count: 16 * 1024))
        let writes = Task {
            for _ in 0..<(total / chunk.readableBytes) { try await producer.outbound.write(chunk) }
        }
        // Nothing is consumed yet: the producer stops being writable (the kernel's buffers
        // filled because reading stopped), and what waits for the consumer is at most 4 reads.
        #expect(try await poll { !producer.channel.isWritable })
        try await Task.sleep(for: .milliseconds(100))
        #expect(connection.inbound.bufferedCount <= 4)
        #expect(connection.inbound.bufferedCount >= 1)

        var received = 0
        var maxBuffered = 0
        for try await bytes in connection.inbound {
            maxBuffered = max(maxBuffered, connection.inbound.bufferedCount)
            received += bytes.readableBytes
            if received == total { break }
        }
        try await writes.value
        #expect(received == total)
        #expect(maxBuffered <= 4)
        try await producer.channel.close().get()
        try await connection.channel.close().get()
        try await server.close()
    }

    @Test(
        "a writer to a peer that does not read suspends at the watermark and resumes when the peer reads",
        arguments: [false, true])
    func outboundBackpressure(writerOnLoop: Bool) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await ServerBootstrap(group: group)
            .childChannelOption(.writeWatermarks, value: WriteWatermarks(low: 16 * 1024, high: 64 * 1024))
            .childChannelOption(.sendBufferSize, value: 16 * 1024)
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let received = LockedValue(0)
        let reader = try await ClientBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .channelOption(.receiveBufferSize, value: 16 * 1024)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(CountingReader(counter: received))
            }
            .connect(to: server.localAddress).get()
        var connections = server.connections.makeAsyncIterator()
        let connection = try #require(try await connections.next())

        let writes = 256
        let written = LockedValue(0)
        let chunk = ByteBuffer(bytes: [UInt8](repeating: 0x63, count: 8 * 1024))
        // Off the loop a write is a task for the loop; on it (the task prefers the channel's
        // loop), a direct call that reads the loop's own copy of the writability gate.
        let loop = try #require(connection.channel.eventLoop as? SelectableEventLoop)
        let writer = Task {
            try await withTaskExecutorPreference(writerOnLoop ? loop : nil) {
                #expect(loop.inEventLoop == writerOnLoop)
                for _ in 0..<writes {
                    try await connection.outbound.write(chunk)
                    written.withLock { $0 += 1 }
                }
            }
        }
        // The writer stalls: the count stops growing well short of 2 MiB, the channel is not writable.
        #expect(try await poll { !connection.channel.isWritable })
        try await Task.sleep(for: .milliseconds(200))
        let stalledAt = written.withLock { $0 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(written.withLock { $0 } == stalledAt)
        #expect(stalledAt < writes)

        try await reader.setOption(.autoRead, value: true).get()
        try await writer.value
        #expect(try await poll { received.withLock { $0 } == writes * chunk.readableBytes })
        try await reader.close().get()
        try await connection.channel.close().get()
        try await server.close()
    }

    @Test("cancelling the task that consumes the inbound sequence closes the channel")
    func cancellationCloses() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let echo = try await startEchoServer(group: group)
        let connection = try await ClientBootstrap(group: group)
            .connect(to: echo.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let started = LockedValue(false)
        let consumer = Task {
            started.withLock { $0 = true }
            for try await _ in connection.inbound {}
        }
        #expect(try await poll { started.withLock { $0 } })
        try await Task.sleep(for: .milliseconds(20))
        consumer.cancel()
        await #expect(throws: CancellationError.self) { try await consumer.value }
        try await connection.channel.closeFuture.get()
        #expect(!connection.channel.isActive)
        try await echo.close()
    }

    @Test("cancelling the task inside executeThenClose ends its wait for a message and closes the channel")
    func cancellationInsideExecuteThenClose() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let echo = try await startEchoServer(group: group)
        let connection = try await ClientBootstrap(group: group)
            .connect(to: echo.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let echoed = LockedValue(0)
        let consumer = Task {
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "ping"))
                for try await _ in inbound { echoed.withLock { $0 += 1 } }
            }
        }
        // The echo came back: the consumer waits for the next message now.
        #expect(try await poll { echoed.withLock { $0 } == 1 })
        consumer.cancel()
        let closed = try await poll { !connection.channel.isActive }
        #expect(closed, "the cancellation did not reach the waiting consumer")
        if !closed { try? await connection.channel.close().get() } // so that the consumer ends
        await #expect(throws: CancellationError.self) { try await consumer.value }
        try await echo.close()
    }

    @Test("a task inside executeThenClose cancelled while it was not waiting gets CancellationError at its next wait")
    func cancellationBeforeTheWait() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let echo = try await startEchoServer(group: group)
        let connection = try await ClientBootstrap(group: group)
            .connect(to: echo.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let gate = LockedValue(false)
        let consumer = Task {
            try await connection.executeThenClose { inbound, _ in
                // Busy, not waiting for a message, until the test has cancelled this task.
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(1)) }
                gate.withLock { $0 = true }
                for try await _ in inbound {}
            }
        }
        consumer.cancel()
        let closed = try await poll { !connection.channel.isActive }
        #expect(closed, "the consumer waited despite its cancellation")
        if !closed { try? await connection.channel.close().get() } // so that the consumer ends
        await #expect(throws: CancellationError.self) { try await consumer.value }
        #expect(gate.withLock { $0 })
        try await echo.close()
    }

    @Test("a child task consuming inside executeThenClose still sees its own cancellation")
    func childTaskCancellationInsideExecuteThenClose() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let echo = try await startEchoServer(group: group)
        let connection = try await ClientBootstrap(group: group)
            .connect(to: echo.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let waiting = LockedValue(false)
        try await connection.executeThenClose { inbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    waiting.withLock { $0 = true }
                    for try await _ in inbound {}
                }
                #expect(try await poll { waiting.withLock { $0 } })
                try await Task.sleep(for: .milliseconds(20))
                // Only the child is cancelled: the scope's task is not.
                tasks.cancelAll()
                let closed = try await poll { !connection.channel.isActive }
                #expect(closed, "the cancellation did not reach the waiting child")
                if !closed { try? await connection.channel.close().get() } // so that the child ends
                await #expect(throws: CancellationError.self) { try await tasks.next() }
            }
        }
        try await echo.close()
    }

    @Test("executeThenClose closes the channel when its body throws, and rethrows")
    func executeThenCloseOnThrow() async throws {
        struct Boom: Error {}
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let echo = try await startEchoServer(group: group)
        let connection = try await ClientBootstrap(group: group)
            .connect(to: echo.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        await #expect(throws: Boom.self) {
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "ping"))
                for try await reply in inbound {
                    #expect(String(buffer: reply) == "ping")
                    throw Boom()
                }
            }
        }
        try await connection.channel.closeFuture.get()
        // A write after the close is a typed error, not a lost message.
        await #expect(throws: ChannelError.self) { try await connection.outbound.write(ByteBuffer(string: "late")) }
        try await echo.close()
    }

    @Test("finishing the writer half-closes: the peer's sequence ends, and it can still answer")
    func halfClose() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await ServerBootstrap(group: group)
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let serving = Task {
            try await server.serve { connection in
                var total = 0
                for try await bytes in connection.inbound { total += bytes.readableBytes }
                // Our input ended (the client's FIN); our output still works.
                try await connection.outbound.write(ByteBuffer(string: "got \(total)"))
                connection.outbound.finish()
                try await connection.channel.closeFuture.get()
            }
        }
        let client = try await ClientBootstrap(group: group)
            .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let reply = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(contentsOf: [ByteBuffer(string: "abc"), ByteBuffer(string: "de")])
            outbound.finish()
            var reply = ""
            for try await bytes in inbound { reply += String(buffer: bytes) }
            return reply
        }
        #expect(reply == "got 5")
        try await server.close()
        try await serving.value
    }

    @Test(
        "an async server serves 1,000 concurrent connections, each in a task on its own loop, and returns when closed")
    func manyConnections() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await ServerBootstrap(group: group)
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let offLoop = LockedValue(0)
        let served = LockedValue(0)
        let serving = Task {
            try await server.serve { connection in
                for try await bytes in connection.inbound {
                    if !connection.eventLoop.inEventLoop { offLoop.withLock { $0 += 1 } }
                    try await connection.outbound.write(bytes)
                }
                if !connection.eventLoop.inEventLoop { offLoop.withLock { $0 += 1 } }
                served.withLock { $0 += 1 }
            }
        }
        let count = 1000
        let replies = try await withThrowingTaskGroup(of: String.self) { tasks in
            for index in 0..<count {
                tasks.addTask {
                    let client = try await ClientBootstrap(group: group)
                        .connectTimeout(testPatience)
                        .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
                    return try await client.executeThenClose { inbound, outbound in
                        try await outbound.write(ByteBuffer(string: "client \(index)"))
                        outbound.finish()
                        var reply = ""
                        for try await bytes in inbound { reply += String(buffer: bytes) }
                        return reply
                    }
                }
            }
            var replies: Set<String> = []
            for try await reply in tasks { replies.insert(reply) }
            return replies
        }
        #expect(replies == Set((0..<count).map { "client \($0)" }))
        #expect(try await poll { served.withLock { $0 } == count })
        #expect(offLoop.withLock { $0 } == 0)
        try await server.close()
        try await serving.value
    }

    @Test("closing the server lets the connections in flight finish, and serve returns after them")
    func gracefulClose() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await ServerBootstrap(group: group)
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let serving = Task {
            try await server.serve { connection in
                var total = 0
                for try await bytes in connection.inbound { total += bytes.readableBytes }
                try await connection.outbound.write(ByteBuffer(string: "\(total)"))
            }
        }
        let client = try await ClientBootstrap(group: group)
            .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        try await client.outbound.write(ByteBuffer(string: "12345"))
        // The server stops accepting while this connection is mid-way.
        try await Task.sleep(for: .milliseconds(50))
        try await server.close()
        await #expect(throws: (any Error).self) {
            _ = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        }
        let reply = try await client.executeThenClose { inbound, outbound in
            outbound.finish()
            var reply = ""
            for try await bytes in inbound { reply += String(buffer: bytes) }
            return reply
        }
        #expect(reply == "5")
        try await serving.value
    }
}

@Suite("Async channels, driven in memory")
struct AsyncChannelEmbeddedTests {
    struct PeerError: Error, Equatable {}

    @Test("reading stops at the high watermark and resumes at the low one")
    func watermarks() async throws {
        let channel = try EmbeddedChannel()
        let connection = try AsyncChannel<Int, Int>(
            wrappingSynchronously: channel, configuration: .init(inboundHighWatermark: 4, inboundLowWatermark: 1))
        for value in 0..<3 { try channel.writeInbound(value) }
        #expect(channel.autoRead)
        try channel.writeInbound(3)
        #expect(!channel.autoRead)
        // A read already under way still delivers; nothing is lost.
        try channel.writeInbound(4)
        var iterator = connection.inbound.makeAsyncIterator()
        var seen: [Int] = []
        for _ in 0..<3 { seen.append(try #require(try await iterator.next())) }
        #expect(!channel.autoRead) // 2 left, above the low watermark
        seen.append(try #require(try await iterator.next()))
        #expect(channel.autoRead) // 1 left: reading resumes
        seen.append(try #require(try await iterator.next()))
        #expect(seen == [0, 1, 2, 3, 4])
        #expect(try channel.finish().isClean)
        #expect(try await iterator.next() == nil)
    }

    @Test(
        "a pipeline error ends the sequence with that error, after the messages read before it, and closes the channel")
    func pipelineError() async throws {
        let channel = try EmbeddedChannel()
        let connection = try AsyncChannel<Int, Int>(wrappingSynchronously: channel)
        try channel.writeInbound(1)
        try channel.writeInbound(2)
        try channel.fireErrorCaught(PeerError())
        var iterator = connection.inbound.makeAsyncIterator()
        #expect(try await iterator.next() == 1)
        #expect(try await iterator.next() == 2)
        await #expect(throws: PeerError.self) { try await iterator.next() }
        #expect(!channel.isActive)
        _ = try channel.finish()
    }

    @Test("writes reach the pipeline in order, a batch with one flush")
    func writes() async throws {
        let channel = try EmbeddedChannel()
        let connection = try AsyncChannel<Int, Int>(wrappingSynchronously: channel)
        try await connection.outbound.write(1)
        try await connection.outbound.write(contentsOf: [2, 3])
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: Int.self) == 1)
        #expect(try channel.readOutbound(as: Int.self) == 2)
        #expect(try channel.readOutbound(as: Int.self) == 3)
        #expect(try channel.finish().isClean)
        await #expect(throws: ChannelError.self) { try await connection.outbound.write(4) }
    }
}
