/// Writes messages into an async channel's pipeline.
///
/// Thread-safe. A write returns as soon as the message is handed to the channel's loop (it
/// is flushed at the end of that loop turn, together with everything else written in the
/// turn, or sooner: when a consumer on the loop was woken by a read, after it suspends
/// again); it suspends first while the channel is not writable, that is while more bytes wait
/// for the socket than the channel's write watermarks allow. From a task running on the
/// channel's loop a write is a direct call; from another thread it is a task for the loop,
/// and at most 16 such messages are on their way at once (the loop sees a message's bytes,
/// and so the watermarks, only when it has taken it).
///
/// ```swift
/// try await outbound.write(reply)
/// try await outbound.write(contentsOf: [header, body])   // one flush for both
/// outbound.finish()                                      // half-close: the peer reads the end
/// ```
public struct AsyncChannelOutboundWriter<Outbound: Sendable>: Sendable {
    private let bridge: any AsyncOutboundSink<Outbound>
    private let channel: any Channel
    /// The channel's loop, kept apart: asking the channel for it per write retained it.
    private let loop: any EventLoop
    private let halfClosesOnFinish: Bool

    init<Inbound>(bridge: AsyncChannelBridge<Inbound, Outbound>, channel: any Channel, halfClosesOnFinish: Bool) {
        self.bridge = bridge
        self.channel = channel
        self.loop = channel.eventLoop
        self.halfClosesOnFinish = halfClosesOnFinish
    }

    /// Writes `message`, after waiting while the channel is not writable.
    ///
    /// - Throws: `ChannelError` with `.ioOnClosedChannel` once the channel closed, or
    ///   `.outputClosed` after `finish()`; `CancellationError` when the task is cancelled
    ///   while it waits to write (nothing is written then).
    ///
    /// Inlined into the caller: a write on the channel's loop to a writable channel is then
    /// a synchronous call, with no async frame and no executor check on its return.
    @inlinable
    public func write(_ message: Outbound) async throws {
        if try self.writeAtOnce(message) { return }
        try await self.writeWaiting(message)
    }

    /// Writes `message` now when the calling task runs on the channel's loop and the channel
    /// is writable; false, having done nothing, otherwise. A generic entry point that
    /// branches to its `ByteBuffer` specialization.
    @usableFromInline
    @_specialize(where Outbound == ByteBuffer)
    func writeAtOnce(_ message: Outbound) throws(ChannelError) -> Bool {
        guard self.loop.inEventLoop, try self.bridge.isWritableOnLoop() else { return false }
        self.bridge.write0(message)
        return true
    }

    /// `write(_:)` from another thread, or to a channel that is not writable now.
    @usableFromInline
    @_specialize(where Outbound == ByteBuffer)
    func writeWaiting(_ message: Outbound) async throws {
        let loop = self.loop
        if loop.inEventLoop {
            if try !self.bridge.passWritabilityGate(reserving: false) {
                try await self.bridge.waitUntilWritable(reserving: false)
            }
            self.bridge.write0(message)
        } else {
            if try !self.bridge.passWritabilityGate(reserving: true) {
                try await self.bridge.waitUntilWritable(reserving: true)
            }
            let bridge = self.bridge
            loop.execute {
                bridge.write0(message)
                bridge.arrivedOnLoop()
            }
        }
    }

    /// Writes `messages` in order with one flush, after waiting while the channel is not
    /// writable.
    ///
    /// - Throws: as `write(_:)`.
    public func write<Messages: Sequence & Sendable>(contentsOf messages: Messages) async throws
    where Messages.Element == Outbound {
        let loop = self.loop
        if loop.inEventLoop {
            if try !self.bridge.passWritabilityGate(reserving: false) {
                try await self.bridge.waitUntilWritable(reserving: false)
            }
            self.bridge.write0(contentsOf: messages)
        } else {
            if try !self.bridge.passWritabilityGate(reserving: true) {
                try await self.bridge.waitUntilWritable(reserving: true)
            }
            let bridge = self.bridge
            loop.execute {
                bridge.write0(contentsOf: messages)
                bridge.arrivedOnLoop()
            }
        }
    }

    /// Ends writing: what was written is sent, then the channel's output is shut down (a TCP
    /// half-close) when the configuration says so. Later writes throw `.outputClosed`.
    public func finish() {
        guard self.halfClosesOnFinish else { return }
        _ = self.channel.close(mode: .output)
    }
}

/// The writer's view of its bridge, so the writer need not name the inbound type.
protocol AsyncOutboundSink<Outbound>: Sendable {
    associatedtype Outbound: Sendable
    func passWritabilityGate(reserving: Bool) throws(ChannelError) -> Bool
    func isWritableOnLoop() throws(ChannelError) -> Bool
    func waitUntilWritable(reserving: Bool) async throws
    func arrivedOnLoop()
    func write0(_ value: Outbound)
    func write0<Messages: Sequence>(contentsOf values: Messages) where Messages.Element == Outbound
}

extension AsyncChannelBridge: AsyncOutboundSink {}
