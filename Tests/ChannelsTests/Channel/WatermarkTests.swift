import Channels
import TestSupport
import Testing

/// Writes fixed chunks while the channel is writable; records the writability changes and
/// how many written bytes had not yet reached the kernel at each change.
final class FloodWriter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct Report: Sendable {
        var changes: [(writable: Bool, outstanding: Int)] = []
        var maxOutstanding = 0
    }

    private let chunk = ByteBuffer(bytes: [UInt8](repeating: 0x61, count: 8192))
    private var outstanding = 0
    private var report = Report()
    private var stopped = false
    let recovered: EventLoopPromise<Report>

    init(recovered: EventLoopPromise<Report>) {
        self.recovered = recovered
    }

    func channelActive(context: ChannelHandlerContext) {
        self.fill(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        self.report.changes.append((writable, self.outstanding))
        if writable {
            self.stopped = true // one full cycle is enough
            self.recovered.succeed(self.report)
        }
    }

    private func fill(context: ChannelHandlerContext) {
        while context.channel.isWritable, !self.stopped {
            self.outstanding += self.chunk.readableBytes
            self.report.maxOutstanding = max(self.report.maxOutstanding, self.outstanding)
            let size = self.chunk.readableBytes
            context.writeAndFlush(PipelineMessage(self.chunk)).whenComplete { [self] _ in
                self.outstanding -= size
            }
        }
    }
}

extension FloodWriter: @unchecked Sendable {} // SAFETY: test handler, used on its loop only

@Suite("Writability watermarks")
struct WatermarkTests {
    @Test("a slow reader makes the writer unwritable at the high watermark and writable again at the low one")
    func slowReader() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let marks = WriteWatermarks(low: 16 * 1024, high: 64 * 1024)
        let serverLoop = group.loops[0]
        let recovered = serverLoop.makePromise(of: FloodWriter.Report.self)
        let server = try await ServerBootstrap(group: group)
            .acceptStrategy(.singleAcceptor)
            .childChannelOption(.writeWatermarks, value: marks)
            .childChannelOption(.sendBufferSize, value: 16 * 1024)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(FloodWriter(recovered: recovered))
            }
            .bind(host: "127.0.0.1", port: 0)
        let received = LockedValue(0)
        let finished = LockedValue(false)
        recovered.futureResult.whenComplete { _ in finished.withLock { $0 = true } }
        let reader = try await ClientBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .channelOption(.receiveBufferSize, value: 16 * 1024)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(CountingReader(counter: received))
            }
            .connect(to: server.localAddress).get()
        // Nothing is read yet: the writer must stop at the high watermark. Then drain slowly.
        try await Task.sleep(for: .milliseconds(100))
        for _ in 0..<10_000 where !finished.withLock({ $0 }) {
            reader.read()
            try await Task.sleep(for: .milliseconds(1))
        }
        let report = try await recovered.futureResult.get()
        #expect(report.changes.count == 2)
        #expect(report.changes.first?.writable == false)
        #expect((report.changes.first?.outstanding ?? 0) > marks.high)
        #expect(report.changes.last?.writable == true)
        #expect((report.changes.last?.outstanding ?? .max) <= marks.low)
        // Bounded: never more than the high watermark plus the one chunk that crossed it.
        #expect(report.maxOutstanding <= marks.high + 8192)
        #expect(received.withLock { $0 } > 0)
        try await reader.close().get()
        try await server.close()
    }
}

/// Counts bytes read; asks for nothing by itself (autoRead is off).
final class CountingReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let counter: LockedValue<Int>
    init(counter: LockedValue<Int>) { self.counter = counter }
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let count = self.unwrapInboundIn(data).readableBytes
        self.counter.withLock { $0 += count }
    }
}
