/// Starts TCP and Unix-domain servers on every loop of a group.
///
/// Thread-safe (a value). By default each loop gets its own listening socket on the same
/// port (`SO_REUSEPORT`), and the kernel spreads connections over them; with
/// `.singleAcceptor` one listener hands connections to the loops in turn (a Unix-domain
/// server always works this way: one path, one listener). Either way a connection lives its
/// whole life on one loop.
///
/// ```swift
/// let server = try await ServerBootstrap(group: group)
///     .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
///     .bind(host: "127.0.0.1", port: 0)
/// print("listening on \(server.localAddress)")
/// ```
public struct ServerBootstrap: Sendable {
    /// How accepted connections reach the loops.
    public enum AcceptStrategy: Sendable {
        /// One listener per loop on the same port (`SO_REUSEPORT`); the kernel balances.
        case listenerPerLoop
        /// One listener on one loop, handing connections to the loops round robin.
        case singleAcceptor
    }

    private let group: EventLoopGroup
    private var strategy = AcceptStrategy.listenerPerLoop
    private var backlogSize: Int32 = 1024
    var childSetup = ChannelSetup()

    public init(group: EventLoopGroup) {
        self.group = group
    }

    public func acceptStrategy(_ strategy: AcceptStrategy) -> ServerBootstrap {
        var copy = self
        copy.strategy = strategy
        return copy
    }

    /// The listen backlog (default 1024).
    public func backlog(_ size: Int32) -> ServerBootstrap {
        var copy = self
        copy.backlogSize = size
        return copy
    }

    /// An option for every accepted channel.
    public func childChannelOption<Value: Sendable>(_ option: ChannelOption<Value>, value: Value) -> ServerBootstrap {
        var copy = self
        copy.childSetup.set(option, value)
        return copy
    }

    /// The child initializer set so far (the async form runs it before adding its handler).
    var childInitializer: ChannelInitializer? { self.childSetup.initializer }

    /// Sets up every accepted channel's pipeline (on its loop, before its first read).
    public func childChannelInitializer(_ initializer: @escaping ChannelInitializer) -> ServerBootstrap {
        var copy = self
        copy.childSetup.initializer = initializer
        return copy
    }

    /// Binds to `host` (numeric address or name; the first address is used) and `port`
    /// (0 picks a free port, shared by every listener).
    public func bind(host: String, port: Int) async throws -> ListeningServer {
        let address: SocketAddress
        if let numeric = try? SocketAddress(ipAddress: host, port: port) {
            address = numeric
        } else {
            let loop = self.group.next()
            let promise = loop.makePromise(of: [SocketAddress].self)
            AddressResolver.resolveOnOwnThread(host: host, port: port) { promise.completeWith($0) }
            address = try await promise.futureResult.get()[0]
        }
        return try await self.bind(to: address)
    }

    /// Binds a Unix-domain socket at `path` (as memcached `-s PATH` does).
    ///
    /// A socket file that nobody listens on any more (left by a crashed server) is replaced;
    /// a path where a server listens, or that is some other file, is a
    /// `ChannelError.addressInUse`. The file is removed when the server closes.
    ///
    /// - Parameters:
    ///   - path: the socket file's path (at most 107 bytes).
    ///   - fileMode: the file's permissions (e.g. `0o660`: owner and group may connect);
    ///     by default what the process's umask leaves.
    ///
    /// ```swift
    /// let server = try await ServerBootstrap(group: group)
    ///     .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
    ///     .bind(unixDomainSocketPath: "/tmp/echo.sock", fileMode: 0o600)
    /// ```
    public func bind(unixDomainSocketPath path: String, fileMode: UInt32? = nil) async throws -> ListeningServer {
        let address = try SocketAddress(unixDomainSocketPath: path)
        let group = self.group
        let listener = try await self.listen(on: address, loop: group.nextLoop(), reusePort: false, fileMode: fileMode)
        {
            group.nextLoop()
        }
        return ListeningServer(listeners: [listener])
    }

    /// Binds to `address` (a Unix-domain address as `bind(unixDomainSocketPath:)` does).
    public func bind(to address: SocketAddress) async throws -> ListeningServer {
        if let path = address.unixDomainSocketPath { return try await self.bind(unixDomainSocketPath: path) }
        var listeners: [ServerSocketChannel] = []
        do {
            switch self.strategy {
            case .listenerPerLoop:
                var bound = address
                for loop in self.group.loops {
                    let listener = try await self.listen(on: bound, loop: loop, reusePort: true) { loop }
                    listeners.append(listener)
                    bound = listener.localAddress ?? bound // later listeners share the chosen port
                }
            case .singleAcceptor:
                let group = self.group
                listeners.append(
                    try await self.listen(on: address, loop: group.nextLoop(), reusePort: false) { group.nextLoop() })
            }
        } catch {
            for listener in listeners { _ = listener.close() }
            throw error
        }
        return ListeningServer(listeners: listeners)
    }

    private func listen(
        on address: SocketAddress,
        loop: SelectableEventLoop,
        reusePort: Bool,
        fileMode: UInt32? = nil,
        chooseChildLoop: @escaping @Sendable () -> SelectableEventLoop
    ) async throws -> ServerSocketChannel {
        let backlog = self.backlogSize
        let setup = self.childSetup
        let setUp: @Sendable (SocketChannel) -> Void = { channel in
            // On the child's loop: pipeline first, then the first read can happen.
            do {
                try channel.register()
                try setup.apply(to: channel)
            } catch {
                channel.close0(mode: .all, promise: nil)
                return
            }
            channel.becomeActive()
        }
        return try await loop.submit {
            let fd = try Posix.socket(family: address.addressFamily)
            let listener = ServerSocketChannel(fd: fd, loop: loop, chooseChildLoop: chooseChildLoop, setUpChild: setUp)
            do {
                try listener.listen(on: address, backlog: backlog, reusePort: reusePort, fileMode: fileMode)
            } catch {
                listener.close0(mode: .all, promise: nil)
                throw error
            }
            return listener
        }.get()
    }
}

/// A running server: its listening channels and the address they share.
///
/// Thread-safe.
public final class ListeningServer: Sendable {
    /// One listening channel per loop (or a single one with `.singleAcceptor`).
    public let listeners: [any Channel]
    /// Where the server listens (with the real port when bound to port 0).
    public let localAddress: SocketAddress

    init(listeners: [ServerSocketChannel]) {
        self.listeners = listeners
        self.localAddress = listeners.first?.localAddress ?? SocketAddress(host: .v4(0), port: 0)
    }

    /// Stops accepting. Connections already accepted stay open.
    public func close() async throws {
        for listener in self.listeners {
            try await listener.close().get()
        }
    }
}
