public import Channels

/// Runs a `MessageToByteEncoder` in a pipeline: the messages written between two flushes are
/// encoded back to back into one reused buffer, which goes down the pipeline at the flush.
///
/// Loop-confined. A message that cannot be encoded fails its write's promise, sends
/// nothing, and is reported upwards as a `MessageEncodingFailure` event (so a correlator above
/// learns of it even when the writer passed no promise); the messages around it are sent.
/// Writes cost no promise of their own: the batch's write carries the writers' promises
/// only when they gave some. When the handler is removed, what it encoded is passed on
/// unflushed, so a protocol switch loses nothing.
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(LengthFieldPrepender(.four)))
/// ```
public final class MessageToByteHandler<Encoder: MessageToByteEncoder>: ChannelOutboundHandler {
    public typealias OutboundIn = Encoder.Message
    public typealias OutboundOut = ByteBuffer

    private var encoder: Encoder
    /// The messages written since the last flush, encoded back to back.
    private var batch = ByteBuffer()
    /// Whether `batch` went down the pipeline (its storage is reused once that write is done).
    private var batchSent = true
    private var promises: [EventLoopPromise<Void>] = []

    public init(_ encoder: Encoder) {
        self.encoder = encoder
    }

    public func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        if self.batchSent {
            self.batchSent = false
            if self.batch.capacity == 0 || self.batch.capacity > 256 << 10 {
                self.batch = ByteBuffer(capacity: 1024)
            } else {
                self.batch.clear() // reuses the storage unless the last write still holds it
            }
        }
        let mark = self.batch.writerIndex
        do {
            try self.encoder.encode(self.unwrapOutboundIn(data), into: &self.batch)
        } catch {
            self.batch.moveWriterIndex(to: mark)
            promise?.fail(error)
            context.fireUserInboundEventTriggered(MessageEncodingFailure(error: error))
            return
        }
        if let promise { self.promises.append(promise) }
    }

    public func flush(context: ChannelHandlerContext) {
        self.sendBatch(context: context)
        context.flush()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.sendBatch(context: context)
    }

    private func sendBatch(context: ChannelHandlerContext) {
        guard !self.batchSent else { return }
        self.batchSent = true
        guard self.batch.readableBytes > 0 else {
            for promise in self.promises { promise.succeed() }
            self.promises.removeAll(keepingCapacity: true)
            return
        }
        var promise: EventLoopPromise<Void>?
        switch self.promises.count {
        case 0: promise = nil
        case 1: promise = self.promises[0]
        default:
            let all = self.promises
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { result in
                for each in all { each.completeWith(result) }
            }
            promise = written
        }
        self.promises.removeAll(keepingCapacity: true)
        context.write(PipelineMessage(self.batch), promise: promise)
    }
}

/// A written message could not be encoded (its write failed and nothing of it was sent).
///
/// Thread-safe (a value). `MessageToByteHandler` fires it as a user inbound event, which
/// travels from the encoder towards the tail: a handler above that tracks what it wrote (a
/// request/response correlator) can forget that message.
public struct MessageEncodingFailure: Sendable {
    public let error: any Error
}
