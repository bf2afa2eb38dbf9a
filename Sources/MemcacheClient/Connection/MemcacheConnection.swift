public import Channels
import Codecs

/// A memcache client over one connection: async calls, pipelined (many may be in flight).
///
/// Thread-safe. Uses the meta protocol wherever it is equivalent (memcached answers
/// pipelined `mg` in batches, text `get` with one write per request), the text protocol for
/// multi-key gets and administrative commands. Every call of one loop turn leaves in one
/// write (see `MemcacheClientHandler`). Every failure is a `MemcacheError`: a server error
/// reply fails that call only; a broken connection fails every call in flight
/// (`.connectionClosed`, `.protocolViolation`, `.timeout`, `.tlsFailure`). A call whose task
/// is cancelled throws `CancellationError` at once; the connection stays usable.
///
/// ```swift
/// let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: 11211, group: group)
/// try await memcache.set("greeting", to: ByteBuffer(string: "hello"), ttl: 60)
/// let value = try await memcache.get("greeting")   // ByteBuffer("hello")
/// ```
public final class MemcacheConnection: MemcacheRequestSender {
    /// The underlying channel (its pipeline ends in `handler`).
    public let channel: any Channel
    /// The memcache handler at the end of the pipeline. Loop-confined: use it only on
    /// `channel.eventLoop`.
    public let handler: MemcacheClientHandler

    /// Wraps a channel whose pipeline was set up with `addHandlers(to:)`, which returned
    /// `handler`.
    public init(channel: any Channel, handler: MemcacheClientHandler) {
        self.channel = channel
        self.handler = handler
    }

    /// The commands the server speaks (the handler's).
    public var wireProtocol: MemcacheProtocol { self.handler.wireProtocol }

    /// Connects and sets up the pipeline, with TLS when `tls` is given (the server's
    /// certificate must then match `serverHostname`, by default `host`). `wireProtocol` says
    /// which commands the server speaks (`.text` or `.twemproxy` for servers and proxies
    /// without meta commands). With `credentials`, the connection authenticates before it is
    /// returned (memcached's `-Y`); a refusal throws `MemcacheError.authenticationFailed`.
    public static func connect(
        host: String,
        port: Int,
        group: EventLoopGroup,
        tls: TLSContext? = nil,
        serverHostname: String? = nil,
        connectTimeout: TimeAmount = .seconds(10),
        responseTimeout: TimeAmount? = nil,
        wireProtocol: MemcacheProtocol = .meta,
        credentials: MemcacheCredentials? = nil
    ) async throws -> MemcacheConnection {
        try await self.connect(
            to: "\(host):\(port)", group: group, tls: tls, serverHostname: serverHostname ?? host,
            connectTimeout: connectTimeout, responseTimeout: responseTimeout, wireProtocol: wireProtocol,
            credentials: credentials
        ) { $0.connect(host: host, port: port) }
    }

    /// Connects to a server on a Unix-domain socket (memcached `-s PATH`) and sets up the
    /// pipeline; TLS needs `serverHostname`, the name the server's certificate must carry.
    ///
    /// ```swift
    /// let memcache = try await MemcacheConnection.connect(unixDomainSocketPath: "/run/memcached.sock", group: group)
    /// ```
    public static func connect(
        unixDomainSocketPath path: String,
        group: EventLoopGroup,
        tls: TLSContext? = nil,
        serverHostname: String? = nil,
        connectTimeout: TimeAmount = .seconds(10),
        responseTimeout: TimeAmount? = nil,
        wireProtocol: MemcacheProtocol = .meta,
        credentials: MemcacheCredentials? = nil
    ) async throws -> MemcacheConnection {
        try await self.connect(
            to: "unix:\(path)", group: group, tls: tls, serverHostname: serverHostname,
            connectTimeout: connectTimeout, responseTimeout: responseTimeout, wireProtocol: wireProtocol,
            credentials: credentials
        ) { $0.connect(unixDomainSocketPath: path) }
    }

    private static func connect(
        to name: String, group: EventLoopGroup, tls: TLSContext?, serverHostname: String?, connectTimeout: TimeAmount,
        responseTimeout: TimeAmount?, wireProtocol: MemcacheProtocol, credentials: MemcacheCredentials?,
        _ connect: (ClientBootstrap) -> EventLoopFuture<any Channel>
    ) async throws -> MemcacheConnection {
        let handler = MemcacheClientHandler(responseTimeout: responseTimeout, wireProtocol: wireProtocol)
        let connection: MemcacheConnection
        do {
            let bootstrap = ClientBootstrap(group: group)
                .connectTimeout(connectTimeout)
                .channelInitializer { channel in
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            try TLSHandler(context: tls, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            let channel = try await connect(bootstrap).get()
            connection = MemcacheConnection(channel: channel, handler: handler)
        } catch let error as TLSError {
            throw MemcacheError(.tlsFailure, "cannot connect to \(name): TLS failed", cause: error)
        } catch {
            throw MemcacheError(.connectFailed, "cannot connect to \(name)", cause: error)
        }
        guard let credentials else { return connection }
        do {
            try await handler.authenticate(credentials, on: connection.channel.eventLoop).get()
        } catch {
            _ = connection.channel.close()
            throw error
        }
        return connection
    }

    /// Adds the memcache client handler to a channel's pipeline and returns it. Call on the
    /// channel's loop, after any TLS handler.
    ///
    /// - Parameters:
    ///   - channel: a connected channel, its TLS handler (if any) already in place.
    ///   - maximumValueLength: the largest value a reply may carry; a larger one is a
    ///     `MemcacheError.valueTooLarge` and closes the connection.
    ///   - responseTimeout: how long the server may stay silent while requests are
    ///     outstanding before they fail (`MemcacheError.timeout`) and the connection closes;
    ///     nil waits forever.
    ///   - wireProtocol: the commands the server speaks (see `MemcacheProtocol`).
    @discardableResult
    public static func addHandlers(
        to channel: any Channel,
        maximumValueLength: Int = 64 << 20,
        responseTimeout: TimeAmount? = nil,
        wireProtocol: MemcacheProtocol = .meta
    ) throws -> MemcacheClientHandler {
        let handler = MemcacheClientHandler(
            maximumValueLength: maximumValueLength, responseTimeout: responseTimeout, wireProtocol: wireProtocol)
        try channel.pipeline.syncOperations.addHandler(handler)
        return handler
    }

    /// Sends `request` and waits for its response. Server error replies throw.
    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        let response = try await self.sendRaw(request, onPartial: nil, deadline: MemcacheDeadline.current)
        if case .error(let error) = response { throw error }
        return response
    }

    /// Sends `request` and waits for its response, server error replies included (as
    /// `.error`). A caller on the channel's loop sends with no hop; others hop there once.
    ///
    /// - Parameter releasesLease: the request holds a pool lease, which the handler gives
    ///   back when it finishes (see `MemcacheClientHandler.leaseReturn`).
    package func sendRaw(
        _ request: MemcacheRequest,
        onPartial: (@Sendable (MemcacheResponse) -> Void)?,
        releasesLease: Bool = false,
        deadline: Deadline? = nil
    ) async throws -> MemcacheResponse {
        if let deadline {
            return try await self.sendRaw(request, onPartial: onPartial, releasesLease: releasesLease, by: deadline)
        }
        let loop = self.channel.eventLoop
        let handler = self.handler
        return try await MemcacheCall().wait { call in
            Self.sendFromAnyThread(
                request, onPartial: onPartial, releasesLease: releasesLease, for: call, by: handler, on: loop)
        }
    }

    /// Has `handler` send `request` for `call`: at once on its loop, else hopping there.
    private static func sendFromAnyThread(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?, releasesLease: Bool,
        for call: MemcacheCall, by handler: MemcacheClientHandler, on loop: any EventLoop
    ) {
        if loop.inEventLoop {
            handler.send(request, onPartial: onPartial, releasesLease: releasesLease, responder: .call(call))
        } else {
            loop.execute {
                handler.send(request, onPartial: onPartial, releasesLease: releasesLease, responder: .call(call))
            }
        }
    }

    /// `sendRaw` bounded by the caller's `deadline` (see `MemcacheDeadline`): a timer on the
    /// loop finishes the call when it passes; a later reply is read and dropped.
    private func sendRaw(
        _ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?, releasesLease: Bool,
        by deadline: Deadline
    ) async throws -> MemcacheResponse {
        if Deadline.now() >= deadline { throw MemcacheDeadline.passed("before the request was sent") }
        let loop = self.channel.eventLoop
        let handler = self.handler
        var timer: Scheduled<Void>?
        defer { timer?.cancel() }
        return try await MemcacheCall().wait { call in
            // Armed only now: a call finished before it is armed reads as cancelled.
            timer = loop.scheduleTask(deadline: deadline) {
                call.finish(.failure(MemcacheDeadline.passed("before the reply")))
            }
            Self.sendFromAnyThread(
                request, onPartial: onPartial, releasesLease: releasesLease, for: call, by: handler, on: loop)
        }
    }

    /// Sends `request` from the channel's loop; `completion` runs on the loop with the
    /// response (server error replies included as `.error`) or the failure.
    ///
    /// Loop-confined: call only on `channel.eventLoop`. The request leaves when the loop's
    /// turn ends, with every other request of the turn.
    public func sendOnLoop(
        _ request: MemcacheRequest,
        onPartial: (@Sendable (MemcacheResponse) -> Void)? = nil,
        completion: @escaping @Sendable (Result<MemcacheResponse, any Error>) -> Void
    ) {
        self.handler.send(request, onPartial: onPartial, completion: completion)
    }

    /// Sends meta commands in quiet mode closed by `mn`: `onReply` receives each reply the
    /// quiet mode keeps (misses of `md`, hits of `mg`, errors), then the `MN` is returned.
    public func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        try await self.sendRaw(.metaBatch(requests), onPartial: onReply, deadline: MemcacheDeadline.current)
    }

    public func close() async throws {
        try await self.channel.close().get()
    }
}
