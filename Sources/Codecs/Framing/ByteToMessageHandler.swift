public import Channels

/// Runs a `ByteToMessageDecoder` in a pipeline: gathers the bytes read, decodes every complete
/// message and passes it on, and enforces a bound on what it buffers.
///
/// Loop-confined. On a decoding error the handler reports the error (`errorCaught`) and
/// closes the channel. At end of input the decoder gets `decodeLast`; bytes that still form
/// no message are reported as `FramingError.leftoverBytesAtEOF`. When the handler is
/// removed, undecoded bytes are passed on as a `ByteBuffer`, so a protocol switch loses
/// nothing.
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: 1024)))
/// ```
public final class ByteToMessageHandler<Decoder: ByteToMessageDecoder>: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Decoder.Message

    private var decoder: Decoder
    private var buffered = ByteBuffer()
    private let maximumBufferedBytes: Int
    private var failed = false
    private var decoding = false

    /// - Parameters:
    ///   - decoder: the decoder to run.
    ///   - maximumBufferedBytes: the most bytes held while waiting for a message to be
    ///     complete (default 1 MiB). Past it: `FramingError.bufferLimitExceeded`.
    public init(_ decoder: Decoder, maximumBufferedBytes: Int = 1 << 20) {
        self.decoder = decoder
        self.maximumBufferedBytes = maximumBufferedBytes
    }

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        guard !self.failed else { return }
        var incoming = self.unwrapInboundIn(data)
        if self.buffered.readableBytes == 0 {
            // Nothing pending: decode straight from the read buffer, no copy.
            self.buffered = incoming
        } else {
            self.buffered.writeBuffer(&incoming)
        }
        self.decodeAll(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.finishInput(context: context)
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            self.finishInput(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        guard self.buffered.readableBytes > 0, !self.failed else { return }
        let rest = self.buffered
        self.buffered = ByteBuffer()
        context.fireChannelRead(PipelineMessage(rest))
        context.fireChannelReadComplete()
    }

    private func decodeAll(context: ChannelHandlerContext) {
        // A message handler below may close the channel mid-loop, which re-enters here
        // through channelInactive; the flag keeps that from decoding twice.
        guard !self.decoding else { return }
        self.decoding = true
        defer { self.decoding = false }
        do {
            while !self.failed, let message = try self.decoder.decode(buffer: &self.buffered) {
                context.fireChannelRead(self.wrapInboundOut(message))
            }
        } catch {
            self.fail(error, context: context)
            return
        }
        self.reclaim()
        if self.buffered.readableBytes > self.maximumBufferedBytes {
            self.fail(
                FramingError(
                    .bufferLimitExceeded,
                    "\(self.buffered.readableBytes) bytes buffered without a complete message (limit \(self.maximumBufferedBytes))"
                ),
                context: context)
        }
    }

    private func finishInput(context: ChannelHandlerContext) {
        guard !self.failed else { return }
        self.decodeAll(context: context)
        guard !self.failed else { return }
        do {
            while let message = try self.decoder.decodeLast(buffer: &self.buffered) {
                context.fireChannelRead(self.wrapInboundOut(message))
            }
        } catch {
            self.fail(error, context: context)
            return
        }
        if self.buffered.readableBytes > 0 {
            let count = self.buffered.readableBytes
            self.buffered = ByteBuffer()
            self.failed = true
            context.fireErrorCaught(
                FramingError(.leftoverBytesAtEOF, "input ended inside a frame (\(count) bytes left)"))
        }
    }

    /// Gives back consumed space: drops the buffer when all was read, or moves the tail to
    /// the front once the consumed part outweighs it.
    private func reclaim() {
        if self.buffered.readableBytes == 0 {
            self.buffered = ByteBuffer()
        } else if self.buffered.readerIndex > 1024, self.buffered.readerIndex > self.buffered.readableBytes {
            self.buffered.discardReadBytes()
        }
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        self.failed = true
        self.buffered = ByteBuffer()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
