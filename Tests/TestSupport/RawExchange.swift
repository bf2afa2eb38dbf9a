public import Channels

/// Connects to `address`, sends `bytes` in one write, and returns every byte the server sent
/// until it closed the connection (end the bytes with `quit`). At most `testPatience`. A connection
/// the server closes at once yields what it said before closing.
public func exchangeUntilClose(with address: SocketAddress, sending bytes: [UInt8], group: EventLoopGroup) async throws
    -> [UInt8]
{
    let loop = group.next()
    let done = loop.makePromise(of: [UInt8].self)
    let channel = try await ClientBootstrap(loop: loop)
        .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(ReplyCollector(done: done)) }
        .connect(to: address).get()
    // A server may answer and close before our bytes are written (a refusal): then the
    // write fails, and what it sent is still the answer.
    _ = try? await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    let timeout = loop.scheduleTask(in: testPatience) { _ = channel.close() }
    defer { timeout.cancel() }
    return try await done.futureResult.get()
}

/// Like `exchangeUntilClose(with:sending:group:)`, but writes `pieces` one by one with a
/// pause between them, so that the server reads them apart (requests cut anywhere).
public func exchangeUntilClose(with address: SocketAddress, sendingPieces pieces: [[UInt8]], group: EventLoopGroup)
    async throws -> [UInt8]
{
    let loop = group.next()
    let done = loop.makePromise(of: [UInt8].self)
    let channel = try await ClientBootstrap(loop: loop)
        .channelOption(.tcpNoDelay, value: true)
        .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(ReplyCollector(done: done)) }
        .connect(to: address).get()
    let timeout = loop.scheduleTask(in: testPatience) { _ = channel.close() }
    defer { timeout.cancel() }
    for piece in pieces {
        guard (try? await channel.writeAndFlush(ByteBuffer(bytes: piece)).get()) != nil else { break }
        try await Task.sleep(for: .microseconds(300))
    }
    return try await done.futureResult.get()
}

/// Collects what is read and hands it over when the channel closes.
///
/// Loop-confined.
private final class ReplyCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var received: [UInt8] = []
    private let done: EventLoopPromise<[UInt8]>

    init(done: EventLoopPromise<[UInt8]>) {
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.unwrapInboundIn(data).withUnsafeReadableBytes { self.received.append(contentsOf: $0) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.done.succeed(self.received)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
