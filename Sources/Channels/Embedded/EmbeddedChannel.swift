import DequeModule
import Synchronization

/// A channel without a socket, for unit-testing handlers: push messages in at either end and
/// read what comes out at the other.
///
/// Not thread-safe: use from the test's thread only. Inbound messages that reach the tail
/// are kept for `readInbound`; flushed outbound messages that reach the head are kept for
/// `readOutbound`. Errors that reach the tail are rethrown by the next call.
///
/// ```swift
/// let channel = try EmbeddedChannel(handlers: [LineDecoder()])
/// try channel.writeInbound(ByteBuffer(string: "a\nb"))
/// #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "a"))
/// #expect(try channel.finish().isClean == false)   // "b" is still buffered
/// ```
public final class EmbeddedChannel: Channel, ChannelCore, @unchecked Sendable { // SAFETY: single-thread test use, below
    // SAFETY: documented single-thread test use.
    public let embeddedEventLoop: EmbeddedEventLoop
    private var pipelineStorage: ChannelPipeline! // SAFETY: assigned at the end of init, before self escapes
    private var inbound = Deque<PipelineMessage>()
    private var outbound = Deque<PipelineMessage>()
    private var unflushed: [(PipelineMessage, EventLoopPromise<Void>?)] = []
    private var caughtError: (any Error)?
    private var active = false
    private var closed = false
    /// Whether the pipeline wants reads whenever data arrives (the `autoRead` option, as a
    /// handler such as an async channel's turns it off and on for backpressure).
    public private(set) var autoRead = true
    private let closePromise: EventLoopPromise<Void>

    /// What was left when the channel finished.
    public struct LeftOvers {
        public let inbound: [Any]
        public let outbound: [Any]
        /// Nothing was left unread at either end.
        public var isClean: Bool { self.inbound.isEmpty && self.outbound.isEmpty }
    }

    /// A channel with `handlers`, active unless `activate` is false.
    public init(
        handlers: [any ChannelHandler] = [], loop: EmbeddedEventLoop = EmbeddedEventLoop(), activate: Bool = true
    ) throws {
        self.embeddedEventLoop = loop
        self.closePromise = loop.makePromise(of: Void.self)
        self.pipelineStorage = ChannelPipeline(
            channel: self, core: self, eventLoop: loop, readType: Any.self, writeType: Any.self)
        try self.pipeline.syncOperations.addHandlers(handlers)
        if activate { try self.activate() }
    }

    public var eventLoop: any EventLoop { self.embeddedEventLoop }
    public var pipeline: ChannelPipeline { self.pipelineStorage }
    public var isActive: Bool { self.active }
    public var isWritable: Bool { true }
    public var localAddress: SocketAddress? { nil }
    public var remoteAddress: SocketAddress? { nil }
    public var closeFuture: EventLoopFuture<Void> { self.closePromise.futureResult }

    public func setOption<Value: Sendable>(_ option: ChannelOption<Value>, value: Value) -> EventLoopFuture<Void> {
        self.embeddedEventLoop.makeSucceededFuture(())
    }

    public func getOption<Value: Sendable>(_ option: ChannelOption<Value>) -> EventLoopFuture<Value> {
        self.embeddedEventLoop.makeFailedFuture(
            ChannelError(.unsupportedOperation, "an embedded channel has no options"))
    }

    /// Fires `channelActive` (like a connect completing).
    public func activate() throws {
        guard !self.active, !self.closed else { return }
        self.active = true
        self.pipeline.fireChannelActive()
        try self.throwIfErrorCaught()
    }

    /// Feeds `value` into the pipeline as a read, followed by read-complete.
    public func writeInbound<T>(_ value: T) throws {
        self.pipeline.fireChannelRead(PipelineMessage(value))
        self.pipeline.fireChannelReadComplete()
        self.embeddedEventLoop.run()
        try self.throwIfErrorCaught()
    }

    /// Writes and flushes `value` from the tail.
    public func writeOutbound<T>(_ value: T) throws {
        self.pipeline.write(PipelineMessage(value), promise: nil)
        self.pipeline.flush()
        self.embeddedEventLoop.run()
        try self.throwIfErrorCaught()
    }

    /// Fires a user event (such as `ChannelEvent.inputClosed`) into the pipeline.
    public func fireUserInboundEvent(_ event: Any) throws {
        self.pipeline.fireUserInboundEventTriggered(event)
        try self.throwIfErrorCaught()
    }

    /// Fires `error` into the pipeline from the head, as a channel does for an I/O error.
    /// - Throws: the error (or another) when it reaches the tail unhandled.
    public func fireErrorCaught(_ error: any Error) throws {
        self.pipeline.fireErrorCaught(error)
        self.embeddedEventLoop.run()
        try self.throwIfErrorCaught()
    }

    /// The oldest message that reached the tail, or nil.
    /// - Throws: `PipelineError.typeMismatch` when it is not a `T` (it is then consumed).
    public func readInbound<T>(as type: T.Type = T.self) throws -> T? {
        try Self.pop(&self.inbound, as: T.self)
    }

    /// The oldest flushed message that reached the head, or nil.
    public func readOutbound<T>(as type: T.Type = T.self) throws -> T? {
        try Self.pop(&self.outbound, as: T.self)
    }

    private static func pop<T>(_ queue: inout Deque<PipelineMessage>, as type: T.Type) throws -> T? {
        guard let message = queue.popFirst() else { return nil }
        guard let value = message.unwrap(as: T.self) else {
            throw PipelineError(.typeMismatch, "expected \(T.self), found \(message.typeDescription)")
        }
        return value
    }

    /// Rethrows (once) an error that reached the tail of the pipeline.
    public func throwIfErrorCaught() throws {
        if let error = self.caughtError {
            self.caughtError = nil
            throw error
        }
    }

    /// Closes the channel and reports what was left unread.
    /// - Throws: an error that reached the tail and was not yet rethrown.
    public func finish() throws -> LeftOvers {
        if !self.closed {
            self.pipeline.close(mode: .all, promise: nil)
        }
        self.embeddedEventLoop.run()
        try self.throwIfErrorCaught()
        let leftOvers = LeftOvers(
            inbound: self.inbound.map { $0.unwrap(as: Any.self) ?? () },
            outbound: self.outbound.map { $0.unwrap(as: Any.self) ?? () })
        self.inbound.removeAll()
        self.outbound.removeAll()
        return leftOvers
    }

    // MARK: ChannelCore

    func write0(_ data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        guard !self.closed else {
            promise?.fail(ChannelError(.ioOnClosedChannel, "write on a closed channel"))
            return
        }
        self.unflushed.append((data, promise))
    }

    func flush0() {
        let flushed = self.unflushed
        self.unflushed = []
        for (message, promise) in flushed {
            self.outbound.append(message)
            promise?.succeed(())
        }
    }

    func read0() {}

    func setAutoRead0(_ enabled: Bool) {
        self.autoRead = enabled
    }

    func close0(mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            promise?.succeed(())
            return
        }
        guard !self.closed else {
            promise?.succeed(())
            return
        }
        self.closed = true
        let wasActive = self.active
        self.active = false
        let failure = ChannelError(.ioOnClosedChannel, "the channel closed before the write was flushed")
        let pending = self.unflushed
        self.unflushed = []
        for (_, writePromise) in pending { writePromise?.fail(failure) }
        if wasActive { self.pipeline.fireChannelInactive() }
        self.pipeline.tearDown()
        promise?.succeed(())
        self.closePromise.succeed(())
    }

    func userOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        self.outbound.append(PipelineMessage(event))
        promise?.succeed(())
    }

    func unhandledInbound(_ data: PipelineMessage) {
        self.inbound.append(data)
    }

    func unhandledError(_ error: any Error) {
        if self.caughtError == nil { self.caughtError = error }
    }
}
