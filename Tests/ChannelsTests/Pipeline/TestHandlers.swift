import Channels

/// ByteBuffer -> String.
final class BytesToString: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = String
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        var buffer = self.unwrapInboundIn(data)
        context.fireChannelRead(self.wrapInboundOut(buffer.readString()))
    }
}

/// String -> Int (its length).
final class StringLength: ChannelInboundHandler {
    typealias InboundIn = String
    typealias InboundOut = Int
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.fireChannelRead(self.wrapInboundOut(self.unwrapInboundIn(data).count))
    }
}

/// Takes Int.
final class IntSink: ChannelInboundHandler {
    typealias InboundIn = Int
    var seen: [Int] = []
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.seen.append(self.unwrapInboundIn(data))
    }
}

/// Outbound String -> ByteBuffer.
final class StringEncoder: ChannelOutboundHandler {
    typealias OutboundIn = String
    typealias OutboundOut = ByteBuffer
    func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        context.write(self.wrapOutboundOut(ByteBuffer(string: self.unwrapOutboundIn(data))), promise: promise)
    }
}

/// Passes bytes on, but holds back every other read until the next one or until it is
/// removed: removal must not lose what it holds.
final class HoldingPassThrough: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private var held: ByteBuffer?
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        if var earlier = self.held {
            self.held = nil
            var buffer = self.unwrapInboundIn(data)
            earlier.writeBuffer(&buffer)
            context.fireChannelRead(self.wrapInboundOut(earlier))
        } else {
            self.held = self.unwrapInboundIn(data)
        }
    }
    func handlerRemoved(context: ChannelHandlerContext) {
        if let held = self.held {
            self.held = nil
            context.fireChannelRead(self.wrapInboundOut(held))
            context.fireChannelReadComplete()
        }
    }
}

/// Removes itself from inside channelRead after `after` reads, forwarding everything.
final class SelfRemover: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private var reads = 0
    private let after: Int
    init(after: Int) { self.after = after }
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.reads += 1
        if self.reads == self.after {
            try? context.pipeline.syncOperations.removeHandler(context: context)
        }
        context.fireChannelRead(data)
    }
}

/// A handler of neither direction: no event could reach it.
final class SeesNothing: ChannelHandler {}
