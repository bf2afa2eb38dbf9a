public import Channels
import Glibc

/// A client that keeps a pipeline of one-line memcache requests (`mg <key>` by default, each
/// answered by exactly one line) in flight until the server closes the connection, and then
/// reports whether every reply was whole and how many there were.
///
/// For graceful-stop tests: the count is what the server answered, to compare with what it
/// says it read.
public struct PipelinedLoad: Sendable {
    /// What the connection saw, once closed.
    public struct Outcome: Sendable, Equatable {
        /// Complete reply lines.
        public var replies: Int
        /// Bytes after the last complete line (0 when no reply was cut short).
        public var partialBytes: Int
        /// Requests written.
        public var sent: Int
    }

    public let channel: any Channel
    /// Completes when the channel closes.
    public let outcome: EventLoopFuture<Outcome>
    /// Succeeds once the first `firstReplies` replies have arrived.
    public let warmedUp: EventLoopFuture<Void>

    /// Connects to `address` and starts sending, `depth` requests ahead of the replies.
    public static func start(
        to address: SocketAddress, group: EventLoopGroup, request: String = "mg absent\r\n", depth: Int = 256,
        firstReplies: Int = 1000
    ) async throws -> PipelinedLoad {
        let loop = group.next()
        let outcome = loop.makePromise(of: Outcome.self)
        let warmedUp = loop.makePromise(of: Void.self)
        let channel = try await ClientBootstrap(loop: loop)
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(
                    PipelineKeeper(
                        request: Array(request.utf8), depth: depth, firstReplies: firstReplies, warmedUp: warmedUp,
                        outcome: outcome))
            }
            .connect(to: address).get()
        return PipelinedLoad(channel: channel, outcome: outcome.futureResult, warmedUp: warmedUp.futureResult)
    }
}

/// Loop-confined: tops the pipeline up as replies arrive, counts reply lines.
private final class PipelineKeeper: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let request: [UInt8]
    private let depth: Int
    private let firstReplies: Int
    private let warmedUp: EventLoopPromise<Void>
    private let outcome: EventLoopPromise<PipelinedLoad.Outcome>
    private var sent = 0
    private var replies = 0
    private var bytesSinceLastLine = 0
    private var writing = true

    init(
        request: [UInt8], depth: Int, firstReplies: Int, warmedUp: EventLoopPromise<Void>,
        outcome: EventLoopPromise<PipelinedLoad.Outcome>
    ) {
        self.request = request
        self.depth = depth
        self.firstReplies = firstReplies
        self.warmedUp = warmedUp
        self.outcome = outcome
    }

    func channelActive(context: ChannelHandlerContext) {
        self.topUp(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        // Line ends found with memchr: a byte-by-byte loop over the buffer's view, in a debug
        // build under a sanitizer, made each of these loads burn a core (while the test that
        // owns it waited for a turn on the starved concurrency pool to send its signal).
        self.unwrapInboundIn(data).withUnsafeReadableBytes { bytes in
            guard let start = bytes.baseAddress else { return }
            let end = start + bytes.count
            var cursor = start
            while let newline = memchr(cursor, Int32(UInt8(ascii: "\n")), end - cursor) {
                self.replies += 1
                cursor = UnsafeRawPointer(newline) + 1
            }
            self.bytesSinceLastLine = cursor == start ? self.bytesSinceLastLine + bytes.count : end - cursor
        }
        if self.replies >= self.firstReplies { self.warmedUp.succeed(()) }
        self.topUp(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A write into a connection the server is closing: stop writing, keep reading.
        self.writing = false
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.warmedUp.fail(ChannelError(.ioOnClosedChannel, "closed after \(self.replies) replies"))
        self.outcome.succeed(.init(replies: self.replies, partialBytes: self.bytesSinceLastLine, sent: self.sent))
        context.fireChannelInactive()
    }

    private func topUp(context: ChannelHandlerContext) {
        guard self.writing, self.sent - self.replies < self.depth / 2 else { return }
        let count = self.depth - (self.sent - self.replies)
        var buffer = ByteBuffer(capacity: count * self.request.count)
        for _ in 0..<count { buffer.writeBytes(self.request) }
        self.sent += count
        context.writeAndFlush(PipelineMessage(buffer), promise: nil)
    }
}
