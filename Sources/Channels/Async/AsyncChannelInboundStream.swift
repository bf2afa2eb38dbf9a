/// The messages an async channel's pipeline reads, as an `AsyncSequence`.
///
/// Thread-safe to pass around; iterate it from one task at a time. Reading from the socket
/// stops while the configured high watermark of messages waits here, and resumes once the
/// consumer has taken them down to the low watermark, so a slow consumer never makes the
/// channel buffer without bound. The sequence ends when the channel closes or the peer
/// half-closes, after every message read before; it throws the pipeline's error when one
/// closed the channel. Cancelling the task that waits for the next message ends the
/// sequence with `CancellationError` and closes the channel.
///
/// ```swift
/// for try await request in connection.inbound {
///     try await connection.outbound.write(respond(to: request))
/// }
/// ```
public struct AsyncChannelInboundStream<Inbound: Sendable>: AsyncSequence, Sendable {
    public typealias Element = Inbound
    public typealias Failure = any Error

    let queue: AsyncMessageQueue<Inbound>

    init<Outbound>(bridge: AsyncChannelBridge<Inbound, Outbound>) {
        self.queue = bridge.inbound
    }

    /// How many messages were read and wait for the consumer.
    public var bufferedCount: Int { self.queue.bufferedCount }

    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline let queue: AsyncMessageQueue<Inbound>

        init(queue: AsyncMessageQueue<Inbound>) {
            self.queue = queue
        }

        // Inlinable, as the queue's `next()`: see there.
        @inlinable
        public mutating func next() async throws -> Inbound? {
            try await self.queue.next()
        }

        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> Inbound? {
            try await self.queue.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(queue: self.queue)
    }
}
