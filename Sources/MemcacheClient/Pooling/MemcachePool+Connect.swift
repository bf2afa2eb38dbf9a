public import Channels
import Codecs
import Logging
import Pool

// How the pool makes a connection (connect, TLS handshake, authentication) and the TLS
// context it makes them with.
extension MemcachePool {
    /// Connects new connections with `context` (a rotated client certificate, a new CA
    /// bundle); connections already open keep theirs until they close (idle past
    /// `pool.idleTimeout`, past `pool.maxLifetime`, or broken). `configuration.tls` keeps the
    /// context the pool was made with.
    ///
    /// ```swift
    /// let renewed = try TLSContext(configuration: .client(trustRoots: .file("/etc/memcache/ca.pem")))
    /// pool.replaceTLS(with: renewed)
    /// ```
    ///
    /// A pool made without TLS starts speaking TLS on its next connections; one made with
    /// it can go back to plain text with nil.
    public func replaceTLS(with context: TLSContext?) {
        self.tls.withLock { $0 = context }
        self.logger.info("TLS context replaced: new connections use it")
    }

    /// One ready connection: connected, codec installed, for TLS handshaken, and with
    /// credentials authenticated (a refusal is `PoolError.setupRefused`: the pool's breaker
    /// backs off, the server set does not eject the server).
    static func connect(on loop: any EventLoop, configuration: Configuration) -> EventLoopFuture<
        MemcachePooledConnection
    > {
        let handshake = loop.makePromise(of: Void.self)
        if configuration.tls == nil { handshake.succeed() }
        let handler = MemcacheClientHandler(
            maximumValueLength: configuration.maximumValueLength, responseTimeout: configuration.responseTimeout,
            wireProtocol: configuration.wireProtocol)
        let bootstrap = ClientBootstrap(loop: loop)
            .connectTimeout(configuration.pool.connectTimeout)
            .socketOptions(configuration.pool.socketOptions)
            .channelInitializer { channel in
                if let tls = configuration.tls {
                    let hostname = configuration.serverHostname ?? configuration.host
                    try channel.pipeline.syncOperations.addHandlers(
                        TLSHandler(context: tls, serverHostname: hostname), HandshakeWaiter(promise: handshake))
                }
                try channel.pipeline.syncOperations.addHandler(handler)
            }
        let connected =
            if let path = configuration.unixSocketPath {
                bootstrap.connect(unixDomainSocketPath: path)
            } else {
                bootstrap.connect(host: configuration.host, port: configuration.port)
            }
        connected.whenFailure { handshake.fail($0) }
        return connected.flatMap { channel in
            handshake.futureResult.flatMap {
                guard let credentials = configuration.credentials else { return loop.makeSucceededFuture(()) }
                return handler.authenticate(credentials, on: loop).flatMapError { error in
                    loop.makeFailedFuture(
                        MemcacheClientHandler.isRefusal(error)
                            ? PoolError(.setupRefused, "the server refused the credentials", cause: error) : error)
                }
            }.flatMapError { error in
                _ = channel.close()
                return loop.makeFailedFuture(error)
            }.map { _ in MemcachePooledConnection(channel: channel, handler: handler) }
        }
    }
}
