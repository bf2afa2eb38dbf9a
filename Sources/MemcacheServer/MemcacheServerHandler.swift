import Channels
import Codecs

/// The last handler of a server connection: runs each decoded request and sends the replies
/// of a read burst in one write.
///
/// Loop-confined. Replies are collected while a burst of requests is decoded and flushed
/// when the burst ends (or earlier once they pass 64 KiB, so a long pipeline of large gets
/// does not pile up). When the peer stops reading and the channel's write buffer passes its
/// high watermark, the handler stops reading too, so a client that only writes cannot make
/// the server buffer without bound.
///
/// Draining (a graceful shutdown): what was read has been answered by then (requests run as
/// they are decoded), so the handler sends what is pending, ignores anything read later and
/// closes its output; the connection closes when the peer closes its side (or the server's
/// deadline passes). Closing the whole socket at once could reset it while replies are still
/// in the kernel's send queue, losing them.
final class MemcacheServerHandler: ChannelInboundHandler {
    typealias InboundIn = MemcacheServerInput

    private let processor: CommandProcessor
    private let connections: LoopConnections
    private let loopCounters: ServerCounters.Loop
    private let maximumConnections: Int
    /// How a drain ends this connection's output: `.output` (a TCP half-close) for plain
    /// connections, `.all` under TLS, whose handler sends close_notify and waits for the
    /// peer's before closing.
    private let drainCloseMode: CloseMode
    private var replies = ByteBuffer()
    /// Requests answered since the counters were last updated.
    private var commandsInBurst = 0
    private var closing = false
    private var registered = false
    private var context: ChannelHandlerContext?

    static let earlyFlushBytes = 64 << 10

    init(
        store: ItemStore, counters: ServerCounters, loopIndex: Int, connections: LoopConnections,
        maximumConnections: Int, drainCloseMode: CloseMode
    ) {
        self.processor = CommandProcessor(store: store, counters: counters)
        self.loopCounters = counters.loop(loopIndex)
        self.connections = connections
        self.maximumConnections = maximumConnections
        self.drainCloseMode = drainCloseMode
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        self.registered = true
        self.connections.add(self)
        self.loopCounters.connectionOpened()
        if self.connections.draining {
            self.closing = true
            context.close(promise: nil)
        } else if self.processor.counters.currentConnections > self.maximumConnections {
            // What memcached answers past its -c limit, before it closes.
            self.closing = true
            context.writeAndFlush(PipelineMessage(ByteBuffer(string: "SERVER_ERROR Too many open connections\r\n")), promise: nil)
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.countCommands()
        if self.registered {
            self.registered = false
            self.connections.remove(self)
            self.loopCounters.connectionClosed()
        }
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        guard !self.closing else { return }
        self.commandsInBurst += 1
        if self.processor.process(self.unwrapInboundIn(data), into: &self.replies) == .close {
            self.closing = true
            self.sendReplies(context: context)
            context.close(promise: nil)
            return
        }
        if self.replies.readableBytes >= Self.earlyFlushBytes { self.sendReplies(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.sendReplies(context: context)
        self.countCommands()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !self.closing { _ = context.channel.setOption(.autoRead, value: context.channel.isWritable) }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The decoder gave up on this connection (a line without end, a broken data block):
        // say why, as memcached does, before the decoder's handler closes it.
        guard !self.closing, let error = error as? MemcacheError else { return }
        self.closing = true
        self.replies.writeString("CLIENT_ERROR \(error.message)\r\n")
        self.sendReplies(context: context)
    }

    /// Starts this connection's part of a graceful shutdown; returns when it will have
    /// closed, or nil when it already has.
    func drain() -> EventLoopFuture<Void>? {
        guard let context = self.context else { return nil }
        let closed = context.channel.closeFuture
        guard !self.closing else { return closed }
        self.closing = true
        self.sendReplies(context: context)
        self.countCommands()
        // Read on (and discard) until the peer closes: its end of file is what closes us.
        _ = context.channel.setOption(.autoRead, value: true)
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: self.drainCloseMode, promise: promise)
        let channel = context.channel
        promise.futureResult.whenFailure { _ in _ = channel.close() }
        return closed
    }

    /// Closes the connection now, whatever it was doing.
    func closeNow() {
        self.closing = true
        self.context?.close(promise: nil)
    }

    private func sendReplies(context: ChannelHandlerContext) {
        guard self.replies.readableBytes > 0 else { return }
        context.writeAndFlush(PipelineMessage(self.replies), promise: nil)
        self.replies = ByteBuffer()
    }

    private func countCommands() {
        guard self.commandsInBurst > 0 else { return }
        self.loopCounters.answered(self.commandsInBurst)
        self.commandsInBurst = 0
    }
}
