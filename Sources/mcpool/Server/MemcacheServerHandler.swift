import Channels
import Codecs

/// The last handler of an embedded-server connection: runs each decoded request and sends
/// the replies of a read burst in one write.
///
/// Loop-confined. Replies are collected while a burst of requests is decoded and flushed
/// when the burst ends (or earlier once they pass 64 KiB, so a long pipeline of large gets
/// does not pile up). When the peer stops reading and the channel's write buffer passes its
/// high watermark, the handler stops reading too, so a client that only writes cannot make
/// the server buffer without bound.
final class MemcacheServerHandler: ChannelInboundHandler {
    typealias InboundIn = MemcacheServerInput

    private let processor: CommandProcessor
    private let maximumConnections: Int
    private var replies = ByteBuffer()
    private var closing = false
    private var counted = false

    static let earlyFlushBytes = 64 << 10

    init(store: ItemStore, counters: ServerCounters, maximumConnections: Int) {
        self.processor = CommandProcessor(store: store, counters: counters)
        self.maximumConnections = maximumConnections
    }

    func channelActive(context: ChannelHandlerContext) {
        self.processor.counters.connectionOpened()
        self.counted = true
        if self.processor.counters.currentConnections > self.maximumConnections {
            // What memcached answers past its -c limit, before it closes.
            self.closing = true
            context.writeAndFlush(PipelineMessage(ByteBuffer(string: "SERVER_ERROR Too many open connections\r\n")), promise: nil)
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.counted {
            self.counted = false
            self.processor.counters.connectionClosed()
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        guard !self.closing else { return }
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
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        _ = context.channel.setOption(.autoRead, value: context.channel.isWritable)
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

    private func sendReplies(context: ChannelHandlerContext) {
        guard self.replies.readableBytes > 0 else { return }
        context.writeAndFlush(PipelineMessage(self.replies), promise: nil)
        self.replies = ByteBuffer()
    }
}
