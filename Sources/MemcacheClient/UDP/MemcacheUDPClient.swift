public import Channels
public import Codecs

/// A memcache client over memcached's UDP protocol (`memcached -U PORT`): each request one
/// datagram with an 8-byte frame header, each reply put back together from its datagrams.
///
/// Thread-safe. Every everyday command works (`get`, `getMany`, `set`, `delete`, …, as
/// `MemcacheRequestSender` provides them) as long as the request fits in one datagram;
/// quiet batches (`sendBatch`, so `setMany`/`deleteMany`) need a stream and are refused.
/// UDP drops datagrams under load, so a reply may never come whole: a call then fails with
/// `MemcacheError.timeout` after `responseTimeout` (or `.datagramLost` when a later part of
/// the reply showed the gap first), and nothing else is affected. At most
/// `Configuration.maximumRequestsInFlight` requests are on the wire at once, so that their
/// replies fit the socket's receive buffer; more callers wait their turn. Prefer TCP
/// (`MemcachePool`) for writes; UDP suits read-mostly fan-outs where a miss is cheap.
///
/// ```swift
/// let memcache = try await MemcacheUDPClient.connect(host: "127.0.0.1", port: 11211, group: group)
/// let value = try await memcache.get("greeting")
/// try await memcache.close()
/// ```
public final class MemcacheUDPClient: MemcacheRequestSender {
    /// How the client waits and what it accepts.
    public struct Configuration: Sendable {
        /// How long a reply may take to arrive whole (default 1 s): a lost datagram is
        /// noticed after this.
        public var responseTimeout: TimeAmount
        /// The largest reply accepted (default 64 MiB).
        public var maximumReplyBytes: Int
        /// The commands the server speaks (default `.meta`; memcached answers meta commands
        /// over UDP too).
        public var wireProtocol: MemcacheProtocol
        /// How many requests may await their replies at once (default 64, at least 1); more
        /// callers wait in order, their `responseTimeout` running. The replies in flight must
        /// fit the socket's receive buffer (the client asks for 1 MiB; Linux grants at most
        /// `net.core.rmem_max`, 208 KiB by default), or the kernel drops some: lower this for
        /// values of many kilobytes.
        public var maximumRequestsInFlight: Int

        public init(
            responseTimeout: TimeAmount = .seconds(1), maximumReplyBytes: Int = 64 << 20,
            wireProtocol: MemcacheProtocol = .meta, maximumRequestsInFlight: Int = 64
        ) {
            self.responseTimeout = responseTimeout
            self.maximumReplyBytes = maximumReplyBytes
            self.wireProtocol = wireProtocol
            self.maximumRequestsInFlight = maximumRequestsInFlight
        }
    }

    /// The connected UDP channel.
    public let channel: any Channel
    public let wireProtocol: MemcacheProtocol
    private let handler: MemcacheUDPClientHandler

    private init(channel: any Channel, handler: MemcacheUDPClientHandler, wireProtocol: MemcacheProtocol) {
        self.channel = channel
        self.handler = handler
        self.wireProtocol = wireProtocol
    }

    /// Opens a UDP socket connected to `host` and `port` (a numeric address or a name).
    ///
    /// - Throws: `MemcacheError.connectFailed` when the address does not resolve or the
    ///   socket cannot be opened (UDP sends nothing here: a server that is not there shows
    ///   on the first call, as `.connectFailed` or `.timeout`).
    public static func connect(
        host: String, port: Int, group: EventLoopGroup, configuration: Configuration = Configuration()
    ) async throws -> MemcacheUDPClient {
        try await self.open("\(host):\(port)", group: group, configuration: configuration) {
            try await $0.connect(host: host, port: port)
        }
    }

    /// Opens a UDP socket connected to `address`, as `connect(host:port:group:configuration:)` does.
    public static func connect(
        to address: SocketAddress, group: EventLoopGroup, configuration: Configuration = Configuration()
    ) async throws -> MemcacheUDPClient {
        try await self.open("\(address)", group: group, configuration: configuration) {
            try await $0.connect(to: address)
        }
    }

    private static func open(
        _ name: String, group: EventLoopGroup, configuration: Configuration,
        _ connect: (DatagramBootstrap) async throws -> any Channel
    ) async throws -> MemcacheUDPClient {
        let handler = MemcacheUDPClientHandler(
            responseTimeout: configuration.responseTimeout, maximumReplyBytes: configuration.maximumReplyBytes,
            maximumInFlight: configuration.maximumRequestsInFlight)
        let bootstrap = DatagramBootstrap(group: group)
            // Room for a reply datagram of any size a server might send.
            .channelOption(.datagramReceiveSize, value: 65_535)
            // Room for the replies in flight (the kernel caps it at net.core.rmem_max).
            .channelOption(.receiveBufferSize, value: 1 << 20)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(handler) }
        do {
            let channel = try await connect(bootstrap)
            return MemcacheUDPClient(channel: channel, handler: handler, wireProtocol: configuration.wireProtocol)
        } catch {
            throw MemcacheError(.connectFailed, "cannot open a UDP socket to \(name)", cause: error)
        }
    }

    /// Sends `request` in one datagram and waits for its whole reply. Server error replies
    /// throw.
    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        let loop = self.channel.eventLoop
        let handler = self.handler
        let response = try await MemcacheCall().wait { call in
            if loop.inEventLoop {
                handler.send(request, call: call)
            } else {
                loop.execute { handler.send(request, call: call) }
            }
        }
        if case .error(let error) = response { throw error }
        return response
    }

    /// Refused: quiet batches rely on a stream's order (`MemcacheError.unsupportedCommand`).
    public func sendBatch(
        _ requests: [MemcacheMetaRequest], onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        throw MemcacheError(.unsupportedCommand, "quiet batches need a stream: use TCP (MemcachePool)")
    }

    /// Closes the socket; calls in flight fail with `MemcacheError.connectionClosed`.
    public func close() async throws {
        try await self.channel.close().get()
    }
}
