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
    var setup = ChannelSetup()

    /// Connections go to the caller's loop when it is one of `group`'s, else round robin.
    public init(group: EventLoopGroup) {
        self.chooseLoop = { group.currentOrNext() }
    }

    /// Every connection goes to `loop` (which must belong to an `EventLoopGroup`).
    public init(loop: any EventLoop) {
        self.chooseLoop = { loop }
    }

    /// How long one connect may take (default 10 s).
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

    /// Connects to `host` (a name or a numeric address), trying each resolved address in turn.
    public func connect(host: String, port: Int) -> EventLoopFuture<any Channel> {
        let loop = self.chooseLoop()
        if let address = try? SocketAddress(ipAddress: host, port: port) {
            return self.connect(to: address)
        }
        let resolved = loop.makePromise(of: [SocketAddress].self)
        OSThread.detached(name: "resolve") {
            resolved.completeWith(Result { try AddressResolver.resolve(host: host, port: port) })
        }
        return resolved.futureResult.flatMap { addresses in
            self.connect(toFirstOf: addresses[...], on: loop, lastError: nil)
        }
    }

    private func connect(toFirstOf addresses: ArraySlice<SocketAddress>, on loop: any EventLoop, lastError: (any Error)?) -> EventLoopFuture<any Channel> {
        guard let first = addresses.first else {
            return loop.makeFailedFuture(lastError ?? ChannelError(.unresolvableHost, "no address to connect to"))
        }
        return self.connect(to: first, on: loop).flatMapError { error in
            self.connect(toFirstOf: addresses.dropFirst(), on: loop, lastError: error)
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
            return loop.makeFailedFuture(ChannelError(.unsupportedOperation, "sockets need a loop of an EventLoopGroup"))
        }
        let promise = loop.makePromise(of: Void.self)
        let setup = self.setup
        let timeout = self.timeout
        return loop.submit { () -> any Channel in
            let fd = try Posix.socket(family: address.addressFamily)
            let channel = SocketChannel(fd: fd, loop: selectable)
            do {
                try channel.register()
                try setup.apply(to: channel)
            } catch {
                channel.close0(mode: .all, promise: nil)
                throw error
            }
            channel.connect(to: address, timeout: timeout, promise: promise)
            return channel
        }.flatMap { channel in
            promise.futureResult.map { channel }
        }
    }
}
