/// A listening server that hands each accepted connection to async code as an `AsyncChannel`.
///
/// Thread-safe. Each connection lives on one loop of the group; `serve` runs one task per
/// connection that prefers that loop as its executor, so a connection's reads, the
/// handler's code and its writes run on one thread with no hop per message.
///
/// ```swift
/// let server = try await ServerBootstrap(group: group)
///     .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(LineCodec()) }
///     .bind(host: "127.0.0.1", port: 7000, inbound: String.self, outbound: String.self)
/// try await server.serve { connection in
///     for try await line in connection.inbound { try await connection.outbound.write(line) }
/// }
/// ```
public final class AsyncServer<Inbound: Sendable, Outbound: Sendable>: Sendable {
    /// The accepted connections, in the order their pipelines were set up.
    public struct Connections: AsyncSequence, Sendable {
        public typealias Element = AsyncChannel<Inbound, Outbound>
        public typealias Failure = any Error
        let queue: AsyncMessageQueue<AsyncChannel<Inbound, Outbound>>

        public struct AsyncIterator: AsyncIteratorProtocol {
            let queue: AsyncMessageQueue<AsyncChannel<Inbound, Outbound>>
            public mutating func next() async throws -> AsyncChannel<Inbound, Outbound>? {
                try await self.queue.next()
            }
            public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> AsyncChannel<
                Inbound, Outbound
            >? {
                try await self.queue.next()
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: self.queue) }
    }

    /// The listeners underneath.
    public let listeningServer: ListeningServer
    /// The accepted connections. Once the server is closed the sequence ends, after the
    /// connections accepted before; one whose pipeline is set up after that is closed. When
    /// the consuming task is cancelled, connections not yet taken are closed.
    public let connections: Connections

    /// Where the server listens (with the real port when bound to port 0).
    public var localAddress: SocketAddress { self.listeningServer.localAddress }

    init(listeningServer: ListeningServer, queue: AsyncMessageQueue<AsyncChannel<Inbound, Outbound>>) {
        self.listeningServer = listeningServer
        self.connections = Connections(queue: queue)
    }

    /// Stops accepting and ends `connections`. Connections already taken stay open.
    public func close() async throws {
        defer { self.connections.queue.finish() }
        try await self.listeningServer.close()
    }

    /// Serves every connection with `handler`, each in a task of its own that prefers the
    /// connection's loop, and closes each connection when its handler returns or throws.
    ///
    /// Returns when the server is closed and every handler has finished: a graceful
    /// shutdown is `close()` (from a shutdown handler, say) while `serve` lets the
    /// connections in flight finish. Cancelling the task that runs `serve` cancels every
    /// handler; their channels close. An error thrown by one handler closes its own
    /// connection only.
    public func serve(_ handler: @escaping @Sendable (AsyncChannel<Inbound, Outbound>) async throws -> Void)
        async throws
    {
        try await withThrowingDiscardingTaskGroup { group in
            for try await connection in self.connections {
                group.addTask(executorPreference: connection.eventLoop) {
                    _ = try? await connection.executeThenClose { _, _ in try await handler(connection) }
                }
            }
        }
    }
}

extension ServerBootstrap {
    /// Binds to `host` and `port` (0: a free port) and hands each accepted connection to
    /// async code as an `AsyncChannel`, wrapped before its first read after the child
    /// channel initializer set up its pipeline.
    ///
    /// - Throws: the bind's `ChannelError` or `IOError`.
    public func bind<Inbound: Sendable, Outbound: Sendable>(
        host: String,
        port: Int,
        inbound: Inbound.Type = Inbound.self,
        outbound: Outbound.Type = Outbound.self,
        configuration: AsyncChannel<Inbound, Outbound>.Configuration = .init()
    ) async throws -> AsyncServer<Inbound, Outbound> {
        let queue = AsyncMessageQueue<AsyncChannel<Inbound, Outbound>>(
            highWatermark: .max, lowWatermark: 0, resumeProducer: {},
            discard: { connection in _ = connection.channel.close() })
        let initializer = self.childInitializer
        let bootstrap = self.childChannelInitializer { channel in
            try initializer?(channel)
            let connection = try AsyncChannel<Inbound, Outbound>(
                wrappingSynchronously: channel, configuration: configuration)
            _ = queue.push(connection)
        }
        let listening = try await bootstrap.bind(host: host, port: port)
        return AsyncServer(listeningServer: listening, queue: queue)
    }
}
