import Channels
import Pool

/// Completes a promise when the TLS handler in front of it finishes its handshake (or the
/// connection fails first), then steps out of the pipeline.
///
/// Loop-confined. Sits right after the `TLSHandler`, so the pool leases a connection only
/// once it can carry encrypted requests.
final class HandshakeWaiter: ChannelInboundHandler, @unchecked Sendable { // SAFETY: loop-confined
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var promise: EventLoopPromise<Void>?

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSEvent {
            self.complete(.success(()))
            context.fireUserInboundEventTriggered(event)
            try? context.pipeline.syncOperations.removeHandler(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.complete(.failure(error))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.complete(.failure(ChannelError(.ioOnClosedChannel, "the connection closed during the TLS handshake")))
        context.fireChannelInactive()
    }

    private func complete(_ result: Result<Void, any Error>) {
        self.promise?.completeWith(result)
        self.promise = nil
    }
}
