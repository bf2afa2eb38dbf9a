/// A connection (or a listener) with a pipeline of handlers, bound to one event loop.
///
/// Thread-safe: every method may be called from any thread; operations run on `eventLoop`.
/// Writes enter the pipeline at its tail.
///
/// ```swift
/// let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: 7).get()
/// try await channel.writeAndFlush(ByteBuffer(string: "hello")).get()
/// try await channel.close().get()
/// ```
public protocol Channel: AnyObject, Sendable {
    var eventLoop: any EventLoop { get }
    var pipeline: ChannelPipeline { get }
    /// Whether the channel is connected (or listening) and not closed.
    var isActive: Bool { get }
    /// Whether buffered outbound bytes are below the high watermark.
    var isWritable: Bool { get }
    var localAddress: SocketAddress? { get }
    var remoteAddress: SocketAddress? { get }
    /// Succeeds once the channel is closed (for any reason).
    var closeFuture: EventLoopFuture<Void> { get }

    /// Sets an option on the loop.
    func setOption<Value: Sendable>(_ option: ChannelOption<Value>, value: Value) -> EventLoopFuture<Void>
    /// Reads an option on the loop.
    func getOption<Value: Sendable>(_ option: ChannelOption<Value>) -> EventLoopFuture<Value>
}

extension Channel {
    /// Writes `value` into the pipeline (from the tail). Nothing is sent until a flush.
    public func write<T: Sendable>(_ value: T) -> EventLoopFuture<Void> {
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.eventLoop.executeOnLoop { self.pipeline.write(PipelineMessage(value), promise: promise) }
        return promise.futureResult
    }

    /// Writes and flushes `value`; the future completes when the bytes reached the kernel.
    public func writeAndFlush<T: Sendable>(_ value: T) -> EventLoopFuture<Void> {
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.eventLoop.executeOnLoop {
            self.pipeline.write(PipelineMessage(value), promise: promise)
            self.pipeline.flush()
        }
        return promise.futureResult
    }

    /// Sends what was written.
    public func flush() {
        self.eventLoop.executeOnLoop { self.pipeline.flush() }
    }

    /// Sends what was written once the loop's current turn ends (one gathering write for
    /// everything written in the turn); see `ChannelHandlerContext.flushAtEndOfTurn()`.
    public func flushAtEndOfTurn() {
        self.eventLoop.executeOnLoop { self.pipeline.flushAtEndOfTurn() }
    }

    /// Asks for one more read when `autoRead` is off.
    public func read() {
        self.eventLoop.executeOnLoop { self.pipeline.read() }
    }

    /// Closes the channel (or one direction of it). Closing a closed channel succeeds.
    public func close(mode: CloseMode = .all) -> EventLoopFuture<Void> {
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.eventLoop.executeOnLoop { self.pipeline.close(mode: mode, promise: promise) }
        return promise.futureResult
    }
}
