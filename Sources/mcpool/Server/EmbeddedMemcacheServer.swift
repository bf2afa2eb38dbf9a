import Channels
import Codecs

/// A memcache-compatible server built only from this library: one listener per loop, each
/// connection on one loop, all loops sharing one `ItemStore`.
///
/// Thread-safe. Text and meta protocols, TTLs, CAS, LRU eviction within `memoryLimit`, an
/// item size limit, `stats`, optional TLS. A client that sends garbage gets memcached's
/// error replies (or, past resynchronisation, a closed connection); others never notice.
///
/// ```swift
/// let server = try await EmbeddedMemcacheServer.start(group: group, port: 11211)
/// print(server.listener.localAddress)
/// ```
struct EmbeddedMemcacheServer: Sendable {
    struct Configuration: Sendable {
        var host = "127.0.0.1"
        var port = 11211
        var memoryLimit = 64 << 20
        var maximumValueLength = 1 << 20
        var maximumConnections = 1024
        var tls: TLSContext?
    }

    /// Like memcached, long multi-key get lines are fine (256 keys of 250 bytes); a line
    /// longer than this without an end is not a client talking memcache.
    static let maximumLineLength = 64 << 10

    let listener: ListeningServer
    let store: ItemStore
    let counters: ServerCounters

    static func start(group: EventLoopGroup, configuration: Configuration) async throws -> EmbeddedMemcacheServer {
        let store = ItemStore(memoryLimit: configuration.memoryLimit, maximumValueLength: configuration.maximumValueLength)
        let counters = ServerCounters(loops: group.loops.count)
        let listener = try await ServerBootstrap(group: group)
            .childChannelOption(.tcpNoDelay, value: true)
            .childChannelInitializer { channel in
                if let tls = configuration.tls {
                    try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: tls))
                }
                try channel.pipeline.syncOperations.addHandlers(
                    ByteToMessageHandler(
                        MemcacheRequestDecoder(maximumLineLength: Self.maximumLineLength, maximumValueLength: configuration.maximumValueLength),
                        maximumBufferedBytes: configuration.maximumValueLength + Self.maximumLineLength + 2),
                    MemcacheServerHandler(store: store, counters: counters, maximumConnections: configuration.maximumConnections))
            }
            .bind(host: configuration.host, port: configuration.port)
        return EmbeddedMemcacheServer(listener: listener, store: store, counters: counters)
    }

    func close() async throws {
        try await self.listener.close()
    }
}
