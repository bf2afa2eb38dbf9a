/// A channel for async/await code: what its pipeline reads arrives as an `AsyncSequence`,
/// and a writer sends messages into the pipeline, suspending while the channel is not
/// writable.
///
/// Thread-safe. Wrap a channel whose pipeline is set up (framing, codecs, TLS) and read and
/// write the messages of its last handler. Backpressure runs both ways: reading stops while
/// `configuration.inboundHighWatermark` messages wait for the consumer and resumes when it
/// has taken them down to the low watermark; `outbound.write` suspends while the channel's
/// write watermarks say it is not writable.
///
/// A task that prefers the channel's loop as its executor reads, decodes, runs its code and
/// writes on one thread, with no hop per message; `AsyncServer.serve` and `withTaskExecutorPreference`
/// arrange that.
///
/// ```swift
/// let connection = try await ClientBootstrap(group: group)
///     .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(LineCodec()) }
///     .connect(host: "127.0.0.1", port: 7, inbound: String.self, outbound: String.self)
/// try await withTaskExecutorPreference(connection.eventLoop) {
///     try await connection.executeThenClose { inbound, outbound in
///         try await outbound.write("PING")
///         for try await line in inbound { print(line); break }
///     }
/// }
/// ```
public struct AsyncChannel<Inbound: Sendable, Outbound: Sendable>: Sendable {
    /// How an async channel buffers.
    public struct Configuration: Sendable {
        /// Reading stops while this many inbound messages wait for the consumer (default 16).
        public var inboundHighWatermark: Int
        /// Reading resumes when the consumer has taken the waiting messages down to this
        /// many (default 4; below `inboundHighWatermark`).
        public var inboundLowWatermark: Int
        /// Whether finishing the writer shuts the channel's output down (a TCP half-close,
        /// default true). The peer's half-close always ends the inbound sequence without
        /// closing the channel.
        public var isOutboundHalfClosureEnabled: Bool

        public init(
            inboundHighWatermark: Int = 16, inboundLowWatermark: Int = 4, isOutboundHalfClosureEnabled: Bool = true
        ) {
            self.inboundHighWatermark = inboundHighWatermark
            self.inboundLowWatermark = inboundLowWatermark
            self.isOutboundHalfClosureEnabled = isOutboundHalfClosureEnabled
        }
    }

    /// The wrapped channel (for its addresses, options and `closeFuture`).
    public let channel: any Channel
    /// What the pipeline reads, in order; ends when the channel or its input closes, with
    /// the pipeline's error if one closed it.
    public let inbound: AsyncChannelInboundStream<Inbound>
    /// Writes into the pipeline.
    public let outbound: AsyncChannelOutboundWriter<Outbound>

    /// The channel's loop: prefer it as the task executor of code serving this channel.
    public var eventLoop: any EventLoop { self.channel.eventLoop }

    /// Wraps `channel`, adding the handler that bridges its pipeline to async code last.
    ///
    /// Call it on the channel's loop (in a channel initializer, before the channel is active,
    /// so that nothing read is missed). The channel's `allowRemoteHalfClosure` option is
    /// turned on, so a peer's half-close ends `inbound` while `outbound` can still write.
    ///
    /// - Throws: `PipelineError.typeMismatch` when the pipeline's last handler does not
    ///   produce `Inbound` or the handler before does not take `Outbound`.
    public init(wrappingSynchronously channel: any Channel, configuration: Configuration = Configuration()) throws {
        let bridge = AsyncChannelBridge<Inbound, Outbound>(
            loop: channel.eventLoop,
            highWatermark: configuration.inboundHighWatermark,
            lowWatermark: configuration.inboundLowWatermark)
        try channel.pipeline.syncOperations.addHandler(AsyncChannelHandler(bridge: bridge))
        if let socket = channel as? SocketChannel {
            try socket.applyOption(.allowRemoteHalfClosure, true)
        }
        self.init(channel: channel, bridge: bridge, configuration: configuration)
    }

    /// Wraps `channel` from any thread (hopping to its loop). Bytes read before this returns
    /// may already have passed the pipeline's end: prefer wrapping in the channel's
    /// initializer, as the bootstraps' async forms do.
    public init(wrapping channel: any Channel, configuration: Configuration = Configuration()) async throws {
        self = try await channel.eventLoop.submit {
            try AsyncChannel(wrappingSynchronously: channel, configuration: configuration)
        }.get()
    }

    init(channel: any Channel, bridge: AsyncChannelBridge<Inbound, Outbound>, configuration: Configuration) {
        self.channel = channel
        self.inbound = AsyncChannelInboundStream(bridge: bridge)
        self.outbound = AsyncChannelOutboundWriter(
            bridge: bridge, channel: channel, halfClosesOnFinish: configuration.isOutboundHalfClosureEnabled)
    }

    /// Runs `body` with the channel's inbound sequence and outbound writer, then closes the
    /// channel: after `body` returns, throws, or is cancelled. What `body` wrote is flushed
    /// before the close.
    ///
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws (a failed close after a successful `body` is not an
    ///   error: the channel is closed either way).
    public func executeThenClose<Result>(
        _ body: (_ inbound: AsyncChannelInboundStream<Inbound>, _ outbound: AsyncChannelOutboundWriter<Outbound>)
            async throws -> Result
    ) async throws -> Result {
        let result: Swift.Result<Result, any Error>
        do {
            // One cancellation handler for the scope, not one per wait for a message.
            let value = try await self.inbound.queue.withConsumerScope { try await body(self.inbound, self.outbound) }
            result = .success(value)
        } catch {
            result = .failure(error)
        }
        try? await self.channel.close().get()
        return try result.get()
    }
}

extension AsyncChannel: CustomStringConvertible {
    public var description: String {
        "AsyncChannel<\(Inbound.self), \(Outbound.self)>(\(self.channel.remoteAddress.map { "\($0)" } ?? "unconnected"))"
    }
}
