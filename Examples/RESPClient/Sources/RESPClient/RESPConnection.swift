public import Channels
public import Codecs
public import Pool

/// One pooled connection to a Redis server: a channel whose pipeline ends in the library's
/// `PipelinedClientHandler` with the RESP codec.
///
/// Thread-safe. Many callers share it (`RESPClient` leases it to up to
/// `maxConcurrentLeasesPerConnection` at once); their commands leave in one write per loop
/// turn and the replies come back in order.
public final class RESPConnection: PoolableConnection {
    public typealias Handler = PipelinedClientHandler<RESPEncoder, RESPDecoder>
    public let channel: any Channel
    public let handler: Handler

    public init(channel: any Channel, handler: Handler) {
        self.channel = channel
        self.handler = handler
    }

    /// Shared by many callers; when the last one leaves, nothing may still be waiting (a
    /// cancelled caller's reply): such a connection is replaced, not trusted.
    public func isReusable(isLastLease: Bool) -> Bool {
        self.channel.isActive && (!isLastLease || self.handler.isClean)
    }

    /// Connects on `loop` and installs the codec (and TLS first when given).
    static func connect(
        host: String, port: Int, on loop: any EventLoop, configuration: RESPClient.Configuration
    ) -> EventLoopFuture<RESPConnection> {
        let handler = Handler(
            encoder: RESPEncoder(), decoder: RESPDecoder(maximumBulkLength: configuration.maximumBulkLength),
            responseTimeout: configuration.responseTimeout)
        return ClientBootstrap(loop: loop)
            .connectTimeout(configuration.pool.connectTimeout)
            .socketOptions(configuration.pool.socketOptions)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(handler) }
            .connect(host: host, port: port)
            .map { RESPConnection(channel: $0, handler: handler) }
    }
}
