/// Opens UDP channels: bound to a local address, optionally connected to one peer, with the
/// pipeline installed before the first datagram.
///
/// Thread-safe (a value). The channel reads `AddressedEnvelope<ByteBuffer>` (each datagram
/// with its sender) and writes them; a connected channel also writes bare `ByteBuffer`s to its
/// peer and hears that peer's ICMP errors (`ECONNREFUSED` as an `IOError` through the
/// pipeline). Reads batch up to `maxMessagesPerRead` datagrams (default 16) per `recvmmsg`,
/// flushes up to 64 per `sendmmsg`.
///
/// ```swift
/// // A UDP echo server with one socket per loop (SO_REUSEPORT):
/// let sockets = try await DatagramBootstrap(group: group)
///     .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(DatagramEcho()) }
///     .bindOnEveryLoop(host: "127.0.0.1", port: 9999)
///
/// // A client connected to it:
/// let client = try await DatagramBootstrap(group: group).connect(host: "127.0.0.1", port: 9999)
/// try await client.writeAndFlush(ByteBuffer(string: "ping")).get()
/// ```
public struct DatagramBootstrap: Sendable {
    private let chooseLoop: @Sendable () -> SelectableEventLoop
    private let group: EventLoopGroup
    private var options: [(ChannelOptionKey, any Sendable)] = []
    private var initializer: ChannelInitializer?

    /// Channels go to the caller's loop when it is one of `group`'s, else round robin.
    public init(group: EventLoopGroup) {
        self.group = group
        self.chooseLoop = { group.current ?? group.nextLoop() }
    }

    /// An option for every channel (applied before the initializer runs and before binding,
    /// so `.reusePort` and buffer sizes take effect).
    public func channelOption<Value: Sendable>(_ option: ChannelOption<Value>, value: Value) -> DatagramBootstrap {
        var copy = self
        copy.options.removeAll { $0.0 == option.key }
        copy.options.append((option.key, value))
        return copy
    }

    /// Sets up every channel's pipeline (on its loop, before its first read).
    public func channelInitializer(_ initializer: @escaping ChannelInitializer) -> DatagramBootstrap {
        var copy = self
        copy.initializer = initializer
        return copy
    }

    var currentInitializer: ChannelInitializer? { self.initializer }

    /// Binds to `host` (a numeric address or a name: its first address) and `port` (0 picks a
    /// free one; `localAddress` tells which).
    ///
    /// - Throws: `ChannelError.invalidAddress` or `.unresolvableHost`; the bind's `IOError`
    ///   (`EADDRINUSE`).
    public func bind(host: String, port: Int) async throws -> any Channel {
        try await self.bind(to: try await Self.address(host: host, port: port))
    }

    /// Binds to `address`.
    public func bind(to address: SocketAddress) async throws -> any Channel {
        try await self.open(boundTo: address, connectedTo: nil, on: self.chooseLoop(), reusePort: false)
    }

    /// Binds one socket per loop of the group to the same address (`SO_REUSEPORT`): the
    /// kernel spreads peers over them by their address, so each peer's datagrams stay on one
    /// loop. Port 0 picks one free port for all of them.
    ///
    /// - Throws: as `bind(to:)`; sockets already bound are closed.
    public func bindOnEveryLoop(host: String, port: Int) async throws -> [any Channel] {
        try await self.bindOnEveryLoop(to: try await Self.address(host: host, port: port))
    }

    /// Binds one socket per loop to `address`, as `bindOnEveryLoop(host:port:)` does.
    public func bindOnEveryLoop(to address: SocketAddress) async throws -> [any Channel] {
        let group = self.group
        var channels: [any Channel] = []
        var bound = address
        do {
            for loop in group.loops {
                let channel = try await self.open(boundTo: bound, connectedTo: nil, on: loop, reusePort: true)
                channels.append(channel)
                bound = channel.localAddress ?? bound // the others share the port the first chose
            }
        } catch {
            for channel in channels { _ = channel.close() }
            throw error
        }
        return channels
    }

    /// Opens a channel connected to `host` and `port` (a numeric address or a name: its
    /// first address), bound to a free local port: it reads only that peer's datagrams,
    /// writes bare `ByteBuffer`s to it, and hears its ICMP errors.
    public func connect(host: String, port: Int) async throws -> any Channel {
        try await self.connect(to: try await Self.address(host: host, port: port))
    }

    /// Opens a channel connected to `address`, as `connect(host:port:)` does.
    public func connect(to address: SocketAddress) async throws -> any Channel {
        let local = try SocketAddress(ipAddress: address.isIPv6 ? "::" : "0.0.0.0", port: 0)
        return try await self.open(boundTo: local, connectedTo: address, on: self.chooseLoop(), reusePort: false)
    }

    private static func address(host: String, port: Int) async throws -> SocketAddress {
        if let numeric = try? SocketAddress(ipAddress: host, port: port) { return numeric }
        let addresses = try await SocketAddress.resolve(host: host, port: port)
        guard let first = addresses.first else {
            throw ChannelError(.unresolvableHost, "'\(host)' has no address")
        }
        return first
    }

    private func open(
        boundTo address: SocketAddress, connectedTo peer: SocketAddress?, on loop: SelectableEventLoop, reusePort: Bool
    ) async throws -> any Channel {
        guard address.unixDomainSocketPath == nil, peer?.unixDomainSocketPath == nil else {
            throw ChannelError(.invalidAddress, "a datagram channel takes IPv4 or IPv6 addresses")
        }
        let options = self.options
        let initializer = self.initializer
        return try await loop.submit {
            let channel = DatagramChannel(fd: try Posix.datagramSocket(family: address.addressFamily), loop: loop)
            do {
                if reusePort { try channel.applyOption(.reusePort, true) }
                for (key, value) in options { try channel.applyOption(key, value) }
                try initializer?(channel)
                try channel.open(boundTo: address, connectedTo: peer)
            } catch {
                channel.close0(mode: .all, promise: nil)
                throw error
            }
            return channel as any Channel
        }.get()
    }
}
