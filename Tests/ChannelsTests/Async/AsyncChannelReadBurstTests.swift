import Channels
import TestSupport
import Testing

/// A consumer task on its channel's loop runs at the end of the read burst that resumed it,
/// and what it wrote leaves then (as a handler's replies would), not at the end of the turn.
@Suite("Async channels: the consumer at the end of the read burst")
struct AsyncChannelReadBurstTests {
    /// Sits before the async channel's handler: counts flushes, and after forwarding each
    /// read queues a check on the loop (which runs later in the same turn) of the flushes
    /// seen by then; or closes the channel right after forwarding the read.
    final class Probe: ChannelDuplexHandler, @unchecked Sendable { // SAFETY: loop-confined
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let closesAfterRead: Bool
        let flushesWhenQueuedTasksRan: LockedValue<[Int]>
        private var flushes = 0

        init(closesAfterRead: Bool, flushesWhenQueuedTasksRan: LockedValue<[Int]>) {
            self.closesAfterRead = closesAfterRead
            self.flushesWhenQueuedTasksRan = flushesWhenQueuedTasksRan
        }

        func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
            context.fireChannelRead(data)
            if self.closesAfterRead {
                context.close(promise: nil)
                return
            }
            context.eventLoop.execute {
                let flushes = self.flushes
                self.flushesWhenQueuedTasksRan.withLock { $0.append(flushes) }
            }
        }

        func flush(context: ChannelHandlerContext) {
            self.flushes += 1
            context.flush()
        }
    }

    @Test("the consumer's reply is flushed within the read burst, before the turn's queued tasks run")
    func replyLeavesWithTheBurst() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let observed = LockedValue<[Int]>([])
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(
                    Probe(closesAfterRead: false, flushesWhenQueuedTasksRan: observed))
            }
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let serving = Task {
            try await server.serve { connection in
                for try await bytes in connection.inbound { try await connection.outbound.write(bytes) }
            }
        }
        let client = try await ClientBootstrap(group: group)
            .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        // The first message only makes sure the consumer is waiting: the server's connection
        // task may start after its first bytes arrive (as under a loaded CI), and a consumer
        // not yet waiting cannot answer within that burst. Once its echo is back, the consumer
        // is parked in `next()` on the loop, so the second read resumes it.
        let replies = try await client.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            var replies: [String?] = []
            for message in ["warm-up", "ping"] {
                try await outbound.write(ByteBuffer(string: message))
                replies.append(try await iterator.next().map { String(buffer: $0) })
            }
            return replies
        }
        #expect(replies == ["warm-up", "ping"])
        #expect(try await poll { observed.withLock { $0 }.count == 2 })
        // Two flushes already when the task queued during the second read ran: the consumer
        // ran and flushed at that burst's end. (Run later in the turn, it would have flushed after.)
        #expect(observed.withLock { $0 }.last == 2)
        try await server.close()
        try await serving.value
    }

    @Test(
        "a channel closed in the middle of the read burst still runs its resumed consumer: it gets the read, then the end"
    )
    func closeBeforeTheBurstEnds() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let received = LockedValue<[String]>([])
        let ended = LockedValue(0)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(
                    Probe(closesAfterRead: true, flushesWhenQueuedTasksRan: LockedValue([])))
            }
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let serving = Task {
            try await server.serve { connection in
                for try await bytes in connection.inbound { received.withLock { $0.append(String(buffer: bytes)) } }
                ended.withLock { $0 += 1 }
            }
        }
        let client = try await ClientBootstrap(group: group)
            .connect(to: server.localAddress, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "last words"))
            for try await _ in inbound {}
        }
        #expect(try await poll { ended.withLock { $0 } == 1 })
        #expect(received.withLock { $0 } == ["last words"])
        try await server.close()
        try await serving.value
    }
}
