import Channels
import Codecs
import MemcacheClient
import MemcacheServer
import Pool
import TestSupport
import Testing

@Suite("Embedded server: graceful shutdown")
struct GracefulShutdownTests {
    @Test(
        "shutdown during pipelined loads: every request the server read is answered, whole, before the connection ends")
    func drainsPipelines() async throws {
        let fixture = try await EmbeddedServerFixture()
        var loads: [PipelinedLoad] = []
        for _ in 0..<4 {
            loads.append(try await PipelinedLoad.start(to: fixture.server.localAddress, group: fixture.group))
        }
        for load in loads { try await load.warmedUp.get() }
        await fixture.server.shutdown(deadline: testPatience)
        var answered = 0
        for load in loads {
            let outcome = try await load.outcome.get()
            #expect(outcome.partialBytes == 0, "a reply was cut: \(outcome)")
            #expect(outcome.replies >= 1000 && outcome.replies < outcome.sent, "\(outcome)")
            answered += outcome.replies
        }
        let statistics = fixture.server.statistics
        #expect(
            statistics.commands == answered,
            "the server read \(statistics.commands) requests, the clients got \(answered) replies")
        #expect(statistics.currentConnections == 0)
        #expect(statistics.closedAtShutdownDeadline == 0, "every client hung up after the server's end of stream")
        // No longer accepting.
        await #expect(throws: (any Error).self) {
            _ = try await ClientBootstrap(group: fixture.group).connect(to: fixture.server.localAddress).get()
        }
        try await fixture.group.shutdownGracefully()
    }

    @Test("a client that never hangs up gets the end of stream, then is closed at the deadline")
    func deadlineClosesStragglers() async throws {
        let fixture = try await EmbeddedServerFixture(loops: 1)
        let events = EventRecorder()
        let straggler = try await ClientBootstrap(group: fixture.group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(events) }
            .connect(to: fixture.server.localAddress).get()
        try await straggler.writeAndFlush(ByteBuffer(string: "mn\r\n")).get()
        #expect(try await poll { fixture.server.statistics.commands == 1 })
        await fixture.server.shutdown(deadline: .milliseconds(200))
        #expect(events.log == ["read MN\r\n", "input closed"])
        #expect(fixture.server.statistics.closedAtShutdownDeadline == 1)
        #expect(fixture.server.statistics.currentConnections == 0)
        try await straggler.close().get()
        try await fixture.group.shutdownGracefully()
    }

    @Test(
        "over TLS the drain ends with close_notify: a pool's connections close and shutdown returns before its deadline"
    )
    func tlsDrain() async throws {
        let serverTLS = try TLSContext.patient(
            configuration: .server(
                certificateChain: .file(fixturePath("tls/server-chain.pem")),
                privateKey: .file(fixturePath("tls/server.key"))))
        let fixture = try await EmbeddedServerFixture { $0.tls = serverTLS }
        let clientTLS = try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem"))))
        let pool = MemcachePool(configuration: .patient(port: fixture.port, tls: clientTLS), group: fixture.group)
        try await pool.set("k", to: ByteBuffer(string: "v"))
        #expect(try await pool.get("k") == ByteBuffer(string: "v"))
        await fixture.server.shutdown(deadline: testPatience)
        #expect(fixture.server.statistics.closedAtShutdownDeadline == 0)
        #expect(fixture.server.statistics.currentConnections == 0)
        await pool.shutdown()
        try await fixture.group.shutdownGracefully()
    }

    @Test("statistics: each loop's connections and commands, and the totals stats reports")
    func statistics() async throws {
        let fixture = try await EmbeddedServerFixture()
        let connection = try await MemcacheConnection.connect(
            host: "127.0.0.1", port: fixture.port, group: fixture.group)
        try await connection.set("a", to: ByteBuffer(string: "1"))
        _ = try await connection.get("a")
        _ = try await connection.get("b")
        let statistics = fixture.server.statistics
        #expect(statistics.commands == 3)
        #expect(statistics.loops.count == 2 && statistics.loops.map(\.currentConnections).reduce(0, +) == 1)
        #expect((statistics.getHits, statistics.getMisses, statistics.sets, statistics.currentItems) == (1, 1, 1, 1))
        let stats = try await connection.stats()
        #expect(stats["get_hits"] == "1" && stats["curr_items"] == "1" && stats["curr_connections"] == "1")
        try await connection.close()
        try await fixture.stop()
    }
}

/// Records what a client channel sees, for checking the order of a server's close.
///
/// Loop-confined handler; `log` may be read from any thread.
final class EventRecorder: ChannelInboundHandler, @unchecked Sendable { // SAFETY: log under its lock
    typealias InboundIn = ByteBuffer
    private let entries = LockedValue<[String]>([])
    var log: [String] { self.entries.withLock { $0 } }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let text = String(decoding: self.unwrapInboundIn(data).readableBytesView, as: UTF8.self)
        self.entries.withLock { $0.append("read \(text)") }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { self.entries.withLock { $0.append("input closed") } }
        context.fireUserInboundEventTriggered(event)
    }

}
