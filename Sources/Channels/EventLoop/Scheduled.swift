/// A task scheduled for later on an event loop, which can still be cancelled.
///
/// Thread-safe. Cancelling a task that has not run fails `futureResult` with
/// `ChannelError.cancelled`; cancelling one that already ran does nothing.
///
/// ```swift
/// let timeout = loop.scheduleTask(in: .seconds(5)) { channel.close() }
/// // ... the reply arrived in time:
/// timeout.cancel()
/// ```
public struct Scheduled<Value: Sendable>: Sendable {
    public let futureResult: EventLoopFuture<Value>
    private let cancellation: @Sendable () -> Void

    init(futureResult: EventLoopFuture<Value>, cancellation: @escaping @Sendable () -> Void) {
        self.futureResult = futureResult
        self.cancellation = cancellation
    }

    public func cancel() {
        self.cancellation()
    }
}
