/// Closes a channel that has read nothing for `timeout`, reporting
/// `ChannelError.readTimeout` through `errorCaught` first (so an async channel's inbound
/// sequence, or a request/response handler's callers, fail with that error).
///
/// Loop-confined (a handler). An `IdleStateHandler` for reads whose idleness fails the
/// channel instead of firing an event: transparent to the pipeline's type check; put it first.
/// The clock is the loop's, so an `EmbeddedEventLoop`'s manual time drives it in tests.
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandlers(ReadTimeoutHandler(timeout: .seconds(30)), MyCodec())
/// ```
public final class ReadTimeoutHandler: IdleStateHandler {
    public let timeout: TimeAmount

    public init(timeout: TimeAmount) {
        self.timeout = timeout
        super.init(readTimeout: timeout)
    }

    override func idleDetected(_ kind: IdleStateEvent, context: ChannelHandlerContext) {
        self.stop()
        context.fireErrorCaught(ChannelError(.readTimeout, "nothing was read for \(self.timeout)"))
        context.close(promise: nil)
    }
}
