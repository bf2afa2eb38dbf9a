/// Connects TCP and Unix-domain clients: resolves the host, connects with a timeout, and
/// installs the pipeline before the first byte.
///
/// Thread-safe (a value).
///
/// ```swift
/// let channel = try await ClientBootstrap(group: group)
///     .connectTimeout(.seconds(2))
///     .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(PrintHandler()) }
///     .connect(host: "localhost", port: 11211)
///     .get()
/// ```
public struct ClientBootstrap: Sendable {
    private let chooseLoop: @Sendable () -> (any EventLoop)
    private var timeout = TimeAmount.seconds(10)
    private var attemptDelay = HappyEyeballs.defaultAttemptDelay
    private var resolve: @Sendable (String, Int) throws -> [SocketAddress] = { host, port in
        try AddressResolver.resolve(host: host, port: port)
    }
    var setup = ChannelSetup()

    /// Connections go to the caller's loop when it is one of `group`'s, else round robin.
    public init(group: EventLoopGroup) {
        self.chooseLoop = { group.currentOrNext() }
    }

    /// Every connection goes to `loop` (which must belong to an `EventLoopGroup`).
    public init(loop: any EventLoop) {
        self.chooseLoop = { loop }
    }

    /// How long one connect may take (default 10 s); for a host name with several
    /// addresses, the whole race among them.
    public func connectTimeout(_ timeout: TimeAmount) -> ClientBootstrap {
        var copy = self
        copy.timeout = timeout
        return copy
    }

    /// An option for every channel (applied before the initializer runs).
    public func channelOption<Value: Sendable>(_ option: ChannelOption<Value>, value: Value) -> ClientBootstrap {
        var copy = self
        copy.setup.set(option, value)
        return copy
    }

    /// The initializer set so far (the async forms run it before adding their own handler).
    var initializer: ChannelInitializer? { self.setup.initializer }

    public func channelInitializer(_ initializer: @escaping ChannelInitializer) -> ClientBootstrap {
        var copy = self
        copy.setup.initializer = initializer
        return copy
    }

    /// How long to wait for a pending attempt before racing the next address of a host name
    /// (default 250 ms, RFC 8305's recommendation); see `connect(host:port:)`.
    public func connectionAttemptDelay(_ delay: TimeAmount) -> ClientBootstrap {
        var copy = self
        copy.attemptDelay = delay
        return copy
    }

    /// Replaces the system resolver (`getaddrinfo`, run on a thread of its own so that no loop
    /// blocks) for host names: for tests, or to connect through a discovery service of your
    /// own. It is called off the loops and may block.
    public func hostResolver(_ resolve: @escaping @Sendable (_ host: String, _ port: Int) throws -> [SocketAddress])
        -> ClientBootstrap
    {
        var copy = self
        copy.resolve = resolve
        return copy
    }

    /// Connects to `host`, a name or a numeric address.
    ///
    /// A name is resolved off the loops (IPv6 and IPv4 addresses alike), then its addresses
    /// race as RFC 8305 ("Happy Eyeballs") describes: interleaved by family, the next one
    /// started when the previous fails or after `connectionAttemptDelay` while it is still
    /// pending, the first to connect wins and the others are closed. `connectTimeout` bounds
    /// the whole race.
    ///
    /// - Throws: (in the future) `ChannelError.unresolvableHost`; `.connectTimeout`;
    ///   `.connectFailed` listing every address and why it failed when a name had several;
    ///   else the one attempt's error (an `IOError` such as `ECONNREFUSED`).
    public func connect(host: String, port: Int) -> EventLoopFuture<any Channel> {
        let loop = self.chooseLoop()
        if let address = try? SocketAddress(ipAddress: host, port: port) {
            return self.connect(to: address, on: loop)
        }
        guard let selectable = loop as? SelectableEventLoop else {
            return loop.makeFailedFuture(
                ChannelError(.unsupportedOperation, "sockets need a loop of an EventLoopGroup"))
        }
        let resolved = loop.makePromise(of: [SocketAddress].self)
        AddressResolver.resolveOnOwnThread(host: host, port: port, using: self.resolve) { resolved.completeWith($0) }
        return resolved.futureResult.flatMap { addresses in
            guard addresses.count > 1 else {
                guard let only = addresses.first else {
                    return loop.makeFailedFuture(ChannelError(.unresolvableHost, "'\(host)' has no address"))
                }
                return self.startConnect(to: only, on: selectable).connected
            }
            let race = HappyEyeballsRace(
                loop: loop, host: host, addresses: addresses, attemptDelay: self.attemptDelay, timeout: self.timeout
            ) { address in
                self.startConnect(to: address, on: selectable)
            }
            return race.run()
        }
    }

    /// Connects to the Unix-domain socket at `path` (e.g. memcached `-s PATH`).
    public func connect(unixDomainSocketPath path: String) -> EventLoopFuture<any Channel> {
        let loop = self.chooseLoop()
        do {
            return self.connect(to: try SocketAddress(unixDomainSocketPath: path), on: loop)
        } catch {
            return loop.makeFailedFuture(error)
        }
    }

    /// Connects to `address`.
    public func connect(to address: SocketAddress) -> EventLoopFuture<any Channel> {
        self.connect(to: address, on: self.chooseLoop())
    }

    private func connect(to address: SocketAddress, on loop: any EventLoop) -> EventLoopFuture<any Channel> {
        guard let selectable = loop as? SelectableEventLoop else {
            return loop.makeFailedFuture(
                ChannelError(.unsupportedOperation, "sockets need a loop of an EventLoopGroup"))
        }
        if loop.inEventLoop { return self.startConnect(to: address, on: selectable).connected }
        return loop.submit {}.flatMap { self.startConnect(to: address, on: selectable).connected }
    }

    /// Creates a channel, sets it up and starts its connect. Loop only.
    ///
    /// - Returns: the channel (nil when it could not even be created) and the connect's outcome.
    private func startConnect(to address: SocketAddress, on loop: SelectableEventLoop) -> (
        channel: (any Channel)?, connected: EventLoopFuture<any Channel>
    ) {
        let promise = loop.makePromise(of: Void.self)
        let channel: SocketChannel
        do {
            channel = SocketChannel(fd: try Posix.socket(family: address.addressFamily), loop: loop)
        } catch {
            return (nil, loop.makeFailedFuture(error))
        }
        do {
            try channel.register()
            try self.setup.apply(to: channel)
        } catch {
            channel.close0(mode: .all, promise: nil)
            return (nil, loop.makeFailedFuture(error))
        }
        channel.connect(to: address, timeout: self.timeout, promise: promise)
        return (channel, promise.futureResult.map { channel as any Channel })
    }
}
