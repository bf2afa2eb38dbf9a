public import Channels

/// A memcache client over one connection: async calls, pipelined (many may be in flight).
///
/// Thread-safe. Uses the meta protocol wherever it is equivalent (memcached answers
/// pipelined `mg` in batches, text `get` with one write per request), the text protocol for
/// multi-key gets and administrative commands. Server error replies throw `MemcacheError`
/// for that call only; a broken connection fails every call in flight with
/// `RequestResponseError.channelClosedBeforeResponse`.
///
/// ```swift
/// let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: 11211, group: group)
/// try await memcache.set("greeting", to: ByteBuffer(string: "hello"), ttl: 60)
/// let value = try await memcache.get("greeting")   // ByteBuffer("hello")
/// ```
public final class MemcacheConnection: MemcacheRequestSender {
    /// The underlying channel (its pipeline ends in the memcache codec and correlator).
    public let channel: any Channel

    /// Wraps a channel whose pipeline was set up with `addHandlers(to:)`.
    public init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects and sets up the pipeline, with TLS when `tls` is given (the server's
    /// certificate must then match `serverHostname`, by default `host`).
    public static func connect(
        host: String,
        port: Int,
        group: EventLoopGroup,
        tls: TLSContext? = nil,
        serverHostname: String? = nil,
        connectTimeout: TimeAmount = .seconds(10)
    ) async throws -> MemcacheConnection {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: tls, serverHostname: serverHostname ?? host))
                }
                try MemcacheConnection.addHandlers(to: channel)
            }
            .connect(host: host, port: port).get()
        return MemcacheConnection(channel: channel)
    }

    /// Adds the memcache client handlers (decoder, encoder, correlator) to a channel's
    /// pipeline. Call on the channel's loop, after any TLS handler.
    ///
    /// - Parameter responseTimeout: how long the server may stay silent while requests are
    ///   outstanding before they fail (`RequestResponseError.responseTimeout`) and the
    ///   connection closes; nil waits forever.
    public static func addHandlers(
        to channel: any Channel,
        maximumValueLength: Int = 64 << 20,
        responseTimeout: TimeAmount? = nil
    ) throws {
        try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(
                MemcacheResponseDecoder(maximumValueLength: maximumValueLength),
                maximumBufferedBytes: maximumValueLength + 64 * 1024),
            MessageToByteHandler(MemcacheRequestEncoder()),
            RequestResponseHandler<MemcacheRequest, MemcacheResponse>(
                isTerminator: { response in
                    if case .meta(let meta) = response, meta.status == .noop { return true }
                    return false
                },
                responseTimeout: responseTimeout)
        )
    }

    /// Sends `request` and waits for its response. Server error replies throw.
    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        let response = try await self.sendRaw(request, onPartial: nil)
        if case .error(let error) = response { throw error }
        return response
    }

    func sendRaw(_ request: MemcacheRequest, onPartial: (@Sendable (MemcacheResponse) -> Void)?) async throws -> MemcacheResponse {
        // One hop to the loop, one resume back: no future, no per-request callback list.
        try await withLoopContinuation { continuation in
            let loop = self.channel.eventLoop
            if loop.inEventLoop {
                self.sendOnLoop(request, onPartial: onPartial) { continuation.resume(with: $0) }
            } else {
                loop.execute { self.sendOnLoop(request, onPartial: onPartial) { continuation.resume(with: $0) } }
            }
        }
    }

    /// Sends `request` from the channel's loop; `completion` runs on the loop with the
    /// response (server error replies included as `.error`) or the failure.
    ///
    /// Loop-confined: call only on `channel.eventLoop`. A pool that already runs on the loop
    /// uses this to lease, send and release in one loop turn.
    public func sendOnLoop(
        _ request: MemcacheRequest,
        onPartial: (@Sendable (MemcacheResponse) -> Void)? = nil,
        completion: @escaping @Sendable (Result<MemcacheResponse, any Error>) -> Void
    ) {
        guard self.channel.isActive else {
            completion(.failure(ChannelError(.ioOnClosedChannel, "the connection is closed")))
            return
        }
        let operations = self.channel.pipeline.syncOperations
        if case .metaBatch = request {
            operations.write(
                CorrelatedRequest(request, promise: nil, expectation: .untilTerminator, onPartial: onPartial, onResponse: completion),
                promise: nil)
        } else if request.expectsNoReply {
            // No reply will come: done once the bytes are out.
            let written = self.channel.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { completion($0.map { .ok }) }
            operations.write(
                CorrelatedRequest<MemcacheRequest, MemcacheResponse>(request, promise: nil, expectation: .none), promise: written)
        } else {
            operations.write(CorrelatedRequest(request, promise: nil, expectation: .one, onResponse: completion), promise: nil)
        }
        operations.flush()
    }

    /// Sends meta commands in quiet mode closed by `mn`: `onReply` receives each reply the
    /// quiet mode keeps (misses of `md`, hits of `mg`, errors), then the `MN` is returned.
    public func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        try await self.sendRaw(.metaBatch(requests), onPartial: onReply)
    }

    public func close() async throws {
        try await self.channel.close().get()
    }
}

extension ResponseExpectation: Equatable {}
