public import Channels
import Codecs
public import CoreMetrics
public import Logging
import Metrics
import Synchronization

/// A memcache server inside your process: memcached's text and meta protocols, TTLs, CAS,
/// LRU eviction within a memory limit, `stats`, optional TLS — built only from this
/// library's channels, one listener per loop, all loops sharing one item store.
///
/// Thread-safe. A client that sends garbage gets memcached's error replies (or, past
/// resynchronisation, a closed connection); other clients never notice. Use it as a real
/// memcached in tests of your own code, or as a server in its own right (`mcpool serve`).
///
/// ```swift
/// let group = try EventLoopGroup(loopCount: 2)
/// let server = try await InProcessMemcacheServer.start(
///     group: group, configuration: .init(host: "127.0.0.1", port: 0))  // 0: a free port
/// print(server.localAddress)  // point your memcache client here
/// // …
/// await server.shutdown()  // answers what it has read, then closes every connection
/// try await group.shutdownGracefully()
/// ```
public final class InProcessMemcacheServer: Sendable {
    /// Where and how the server listens, and what it keeps.
    public struct Configuration: Sendable {
        /// Address to listen on (a numeric address or a name).
        public var host: String
        /// Port to listen on; 0 picks a free one (read it back from `localAddress`).
        public var port: Int
        /// Listen on a Unix-domain socket at this path instead of `host` and `port`
        /// (memcached's `-s`). A socket file left by a crashed server is replaced; a path where
        /// a server listens is a `ChannelError.addressInUse`. The file is removed at shutdown.
        public var unixSocketPath: String?
        /// The socket file's permissions (memcached's `-a`, e.g. `0o660`); by default what the
        /// umask leaves.
        public var unixSocketMode: UInt32?
        /// Bytes for items; the least recently used go first past it (memcached's `-m`).
        public var memoryLimit: Int
        /// The largest value stored (memcached's `-I`).
        public var maximumValueLength: Int
        /// Most simultaneous connections; more are told so and closed (memcached's `-c`).
        public var maximumConnections: Int
        /// Serve TLS with this context (a server context: certificate and key).
        public var tls: TLSContext?
        /// Also serve memcached's UDP protocol on this port (memcached's `-U`), one socket
        /// per loop; 0 picks a free one (read it back from `udpLocalAddress`). nil (the
        /// default, as memcached's since 1.5.6): no UDP. UDP has neither TLS nor
        /// authentication, so a server configured with either refuses it; and a spoofed
        /// source address makes any UDP server a reflector, so open it only to trusted
        /// networks.
        public var udpPort: Int? = nil
        /// Ask every connection to authenticate first (memcached's `-Y authfile`): until it has,
        /// every command is answered `CLIENT_ERROR unauthenticated`. nil: anyone may use the
        /// server. See `MemcacheAuthenticator`.
        public var authenticator: MemcacheAuthenticator? = nil
        /// How long a request may stay incomplete before its connection is closed (a client
        /// trickling bytes to hold a connection open); the clock starts with the request's
        /// first byte, not its last. nil: forever, as memcached.
        public var incompleteRequestTimeout: TimeAmount? = .seconds(30)
        /// Where the server logs: connections a shutdown deadline cut (warning); start and
        /// stop (debug); per connection — refused past the limit, failed, TLS errors with
        /// OpenSSL's reason — only at debug. Nothing per request.
        public var logger: Logger
        /// How long a graceful stop as a `Service` waits for clients to take their last
        /// replies (`shutdown(deadline:)` takes its own).
        public var shutdownTimeout: TimeAmount = .seconds(10)
        /// Report the server's counters through swift-metrics (see `metricsInterval`): what
        /// `stats` reports as `memcached.<stat>`, and each loop's connections and commands.
        public var reportsMetrics = true
        /// Where the metrics go: nil means swift-metrics' global `MetricsSystem.factory`.
        public var metricsFactory: (any MetricsFactory)? = nil
        /// How often the counters are read and reported (and once more at shutdown).
        public var metricsInterval: TimeAmount = .seconds(1)

        public init(
            host: String = "127.0.0.1", port: Int = 11211, memoryLimit: Int = 64 << 20,
            maximumValueLength: Int = 1 << 20, maximumConnections: Int = 1024, tls: TLSContext? = nil,
            logger: Logger = Logger(label: "swift-channels.memcache-server", factory: { _ in SwiftLogNoOpLogHandler() })
        ) {
            self.host = host
            self.port = port
            self.memoryLimit = memoryLimit
            self.maximumValueLength = maximumValueLength
            self.maximumConnections = maximumConnections
            self.tls = tls
            self.logger = logger
        }
    }

    /// Like memcached, long multi-key get lines are fine (256 keys of 250 bytes); a line
    /// longer than this without an end is not a client talking memcache.
    public static let maximumLineLength = 64 << 10

    /// Where the server listens (with the real port when started on port 0).
    public var localAddress: SocketAddress { self.listener.localAddress }

    /// Where the server serves UDP (`Configuration.udpPort`), or nil.
    public var udpLocalAddress: SocketAddress? { self.udpSockets.first?.localAddress }

    let listener: ListeningServer
    private let udpSockets: [any Channel]
    let store: ItemStore
    let counters: ServerCounters
    /// The configuration it was started with (`replaceTLS(with:)` does not change it).
    public let configuration: Configuration
    /// The TLS context new connections are served with.
    private let tls: LockedValue<TLSContext?>
    private let group: EventLoopGroup
    private let connections: [LoopConnections]
    private let logger: Logger
    private let metrics: ServerMetricsReporter?
    /// The next metrics report; `stopped` once shutdown has made the last one.
    private let reporting = LockedValue<(next: Scheduled<Void>?, stopped: Bool)>((nil, false))

    private init(
        listener: ListeningServer, store: ItemStore, counters: ServerCounters, group: EventLoopGroup,
        connections: [LoopConnections], configuration: Configuration, tls: LockedValue<TLSContext?>,
        udpSockets: [any Channel]
    ) {
        self.tls = tls
        self.listener = listener
        self.udpSockets = udpSockets
        self.store = store
        self.counters = counters
        self.group = group
        self.connections = connections
        self.configuration = configuration
        var logger = configuration.logger
        logger[metadataKey: "address"] = "\(listener.localAddress)"
        self.logger = logger
        self.metrics =
            configuration.reportsMetrics
            ? ServerMetricsReporter(
                loops: group.loops.count,
                dimensions: configuration.unixSocketPath.map { [("server.address", $0)] }
                    ?? [("server.address", configuration.host), ("server.port", "\(listener.localAddress.port)")],
                factory: configuration.metricsFactory ?? MetricsSystem.factory) : nil
    }

    /// Reports the metrics every `metricsInterval` on loop 0, until shutdown.
    private func scheduleReport() {
        guard let metrics = self.metrics, let loop = self.group.loops.first else { return }
        self.reporting.withLock { reporting in
            guard !reporting.stopped else { return }
            reporting.next = loop.scheduleTask(in: self.configuration.metricsInterval) { [self] in
                metrics.report(self.statistics)
                self.scheduleReport()
            }
        }
    }

    /// Cancels the next report (a report running now schedules no other) and reports once
    /// more, so the final counts are seen.
    private func stopReporting() {
        let next = self.reporting.withLock { reporting -> Scheduled<Void>? in
            reporting.stopped = true
            return reporting.next
        }
        next?.cancel()
        self.metrics?.report(self.statistics)
    }

    /// Starts listening on every loop of `group`.
    ///
    /// - Throws: `IOError` when the address cannot be bound.
    public static func start(group: EventLoopGroup, configuration: Configuration = Configuration()) async throws
        -> InProcessMemcacheServer
    {
        if configuration.udpPort != nil, configuration.tls != nil || configuration.authenticator != nil {
            throw MemcacheError(
                .invalidArgument, "UDP has neither TLS nor authentication: a server with either cannot serve UDP")
        }
        let store = ItemStore(
            memoryLimit: configuration.memoryLimit, maximumValueLength: configuration.maximumValueLength)
        let counters = ServerCounters(loops: group.loops.count)
        let connections = group.loops.indices.map { index in
            var logger = configuration.logger
            logger[metadataKey: "loop"] = "\(index)"
            return LoopConnections(logger: logger, eventLoop: group.loops[index])
        }
        let drainCloseMode: CloseMode = configuration.tls == nil ? .output : .all
        let handlerSettings = connections.indices.map { loopIndex in
            MemcacheServerHandler.Settings(
                store: store, counters: counters, loopIndex: loopIndex, connections: connections[loopIndex],
                maximumConnections: configuration.maximumConnections, maximumLineLength: Self.maximumLineLength,
                drainCloseMode: drainCloseMode, incompleteRequestTimeout: configuration.incompleteRequestTimeout,
                authenticator: configuration.authenticator)
        }
        let tls = LockedValue(configuration.tls)
        // One acceptor handing connections to the loops in turn, as memcached's dispatcher
        // thread does: the kernel's SO_REUSEPORT hash put 6 of 8 busy connections on one loop
        // as often as not, leaving the other loop idle.
        let bootstrap = ServerBootstrap(group: group)
            .acceptStrategy(.singleAcceptor)
            .childChannelOption(.tcpNoDelay, value: true)
            .childChannelInitializer { channel in
                let loopIndex = min((channel.eventLoop as? SelectableEventLoop)?.index ?? 0, connections.count - 1)
                if let context = tls.withLock({ $0 }) {
                    try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: context))
                }
                try channel.pipeline.syncOperations.addHandler(
                    MemcacheServerHandler(settings: handlerSettings[loopIndex]))
            }
        let listener =
            if let path = configuration.unixSocketPath {
                try await bootstrap.bind(unixDomainSocketPath: path, fileMode: configuration.unixSocketMode)
            } else {
                try await bootstrap.bind(host: configuration.host, port: configuration.port)
            }
        var udpSockets: [any Channel] = []
        if let udpPort = configuration.udpPort {
            do {
                udpSockets = try await DatagramBootstrap(group: group)
                    .channelOption(.datagramReceiveSize, value: 65_535)
                    .channelOption(.maxMessagesPerRead, value: 32)
                    .channelInitializer { channel in
                        let loopIndex = min(
                            (channel.eventLoop as? SelectableEventLoop)?.index ?? 0, group.loops.count - 1)
                        try channel.pipeline.syncOperations.addHandler(
                            MemcacheUDPServerHandler(
                                store: store, counters: counters, loopIndex: loopIndex,
                                maximumLineLength: Self.maximumLineLength))
                    }
                    .bindOnEveryLoop(host: configuration.host, port: udpPort)
            } catch {
                try? await listener.close()
                throw error
            }
        }
        counters.listenAddress.withLock { $0 = ConnectionRecord.name(listener.localAddress) }
        counters.settings.withLock {
            $0 = [
                ("maxconns", "\(configuration.maximumConnections)"),
                ("tcpport", configuration.unixSocketPath == nil ? "\(listener.localAddress.port)" : "0"),
                ("inter", configuration.unixSocketPath == nil ? configuration.host : "NULL"),
                ("udpport", "\(udpSockets.first?.localAddress?.port ?? 0)"),
                ("domain_socket", configuration.unixSocketPath ?? "NULL"),
                ("umask", configuration.unixSocketMode.map { String($0, radix: 8) } ?? "700"),
                ("auth_enabled_ascii", configuration.authenticator == nil ? "no" : "yes"),
                ("ssl_enabled", configuration.tls == nil ? "no" : "yes"),
                (
                    "incomplete_request_timeout",
                    "\(configuration.incompleteRequestTimeout.map { $0.nanoseconds / 1_000_000_000 } ?? 0)"
                ),
            ]
        }
        let server = InProcessMemcacheServer(
            listener: listener, store: store, counters: counters, group: group, connections: connections,
            configuration: configuration, tls: tls, udpSockets: udpSockets)
        server.metrics?.report(server.statistics)
        server.scheduleReport()
        server.logger.debug(
            "memcache server listening",
            metadata: [
                "loops": "\(group.loops.count)", "tls": "\(configuration.tls != nil)",
                "authentication": "\(configuration.authenticator != nil)",
                "memory_limit": "\(configuration.memoryLimit)",
            ])
        return server
    }

    /// Serves new connections with `context` (a rotated certificate, say); connections already
    /// open keep the context they started with until they close. Build the new context first
    /// (`TLSContext(configuration:)` checks the files and that key and certificate match):
    /// when that throws, nothing changes.
    ///
    /// ```swift
    /// let rotated = try TLSContext(configuration: .server(
    ///     certificateChain: .file("/etc/memcache/cert.pem"), privateKey: .file("/etc/memcache/key.pem")))
    /// try server.replaceTLS(with: rotated)
    /// ```
    ///
    /// - Throws: `MemcacheError.invalidArgument` when the server was started without TLS (it
    ///   cannot start speaking TLS on a port its clients use in plain text).
    public func replaceTLS(with context: TLSContext) throws {
        try self.tls.withLock { current in
            guard current != nil else {
                throw MemcacheError(.invalidArgument, "the server was started without TLS; it cannot switch to TLS")
            }
            current = context
        }
        self.logger.info("TLS context replaced: new connections use it")
    }

    /// What `stats` would report now, plus each loop's connections and commands.
    public var statistics: MemcacheServerStatistics {
        MemcacheServerStatistics(store: self.store, counters: self.counters)
    }

    /// Stops gracefully: stops accepting, lets every connection send the replies to what it
    /// has read and close its side (plain TCP: a half-close; TLS: close_notify), and once the
    /// peers close theirs, returns. Connections still open after `deadline` are closed at
    /// once. Requests that arrive after the shutdown began are not answered. Idempotent;
    /// the group stays yours to shut down.
    public func shutdown(deadline: TimeAmount = .seconds(10)) async {
        let cutBefore = self.counters.closedAtShutdownDeadline.load(ordering: .relaxed)
        self.logger.debug("memcache server stopping", metadata: ["deadline": "\(deadline)"])
        try? await self.listener.close()
        for socket in self.udpSockets { try? await socket.close().get() }
        var closed: [EventLoopFuture<Void>] = []
        var timers: [Scheduled<Void>] = []
        for (loop, connections) in zip(self.group.loops, self.connections) {
            let draining = loop.submit { connections.drain() }
            let counters = self.counters
            timers.append(
                loop.scheduleTask(in: deadline) {
                    // Counted first: the closes complete the futures this shutdown awaits.
                    counters.closedAtShutdownDeadline.wrappingAdd(connections.count, ordering: .relaxed)
                    connections.closeAll()
                })
            closed += (try? await draining.get()) ?? []
        }
        for future in closed { try? await future.get() }
        for timer in timers { timer.cancel() }
        self.stopReporting()
        let cut = self.counters.closedAtShutdownDeadline.load(ordering: .relaxed) - cutBefore
        if cut > 0 {
            self.logger.warning(
                "closed connections whose clients had not hung up by the deadline", metadata: ["connections": "\(cut)"])
        }
        self.logger.debug("memcache server stopped", metadata: ["commands": "\(self.statistics.commands)"])
    }
}
