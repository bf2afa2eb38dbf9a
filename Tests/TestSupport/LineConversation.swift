public import Channels

/// A connection that sends a request and waits for one reply line, one request at a time:
/// for comparing servers reply by reply, where sending everything at once would let a
/// server's batching (or its bugs) change what comes back.
public final class LineConversation: Sendable {
    private let channel: any Channel
    private let reader: LoopBound<LineReader>

    private init(channel: any Channel, reader: LoopBound<LineReader>) {
        self.channel = channel
        self.reader = reader
    }

    public static func open(to address: SocketAddress, group: EventLoopGroup) async throws -> LineConversation {
        let loop = group.next()
        let reader = LoopBound(LineReader(), eventLoop: loop)
        let channel = try await ClientBootstrap(loop: loop)
            .channelOption(.tcpNoDelay, value: true)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(reader.value) }
            .connect(to: address).get()
        return LineConversation(channel: channel, reader: reader)
    }

    /// Sends `request` and returns the next reply line with its `\r\n`, or `<closed>` when the
    /// server closed first. Waits at most `testPatience` (then `<timeout>`).
    public func send(_ request: String) async throws -> String {
        let loop = self.channel.eventLoop
        let line = loop.makePromise(of: String.self)
        let reader = self.reader
        loop.execute { reader.value.nextLine(line) }
        let timeout = loop.scheduleTask(in: testPatience) { line.succeed("<timeout>") }
        defer { timeout.cancel() }
        _ = try? await self.channel.writeAndFlush(ByteBuffer(string: request)).get()
        return try await line.futureResult.get()
    }

    public func close() async {
        try? await self.channel.close().get()
    }
}

/// Hands out reply lines as they complete.
///
/// Loop-confined.
private final class LineReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var received: [UInt8] = []
    private var waiting: EventLoopPromise<String>?
    private var closed = false

    func nextLine(_ promise: EventLoopPromise<String>) {
        self.waiting = promise
        self.deliver()
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.unwrapInboundIn(data).withUnsafeReadableBytes { self.received.append(contentsOf: $0) }
        self.deliver()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closed = true
        self.deliver()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func deliver() {
        guard let promise = self.waiting else { return }
        if let newline = self.received.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: self.received[...newline], as: UTF8.self)
            self.received.removeSubrange(...newline)
            self.waiting = nil
            promise.succeed(line)
        } else if self.closed {
            self.waiting = nil
            promise.succeed("<closed>")
        }
    }
}
