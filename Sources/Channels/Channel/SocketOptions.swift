/// The socket options a connection's owner usually wants to set together: keep-alive,
/// how long unacknowledged data may wait, buffer sizes.
///
/// Thread-safe (a value). `nil` leaves the kernel's default. Give it to
/// `ClientBootstrap.socketOptions(_:)` or `ServerBootstrap.childSocketOptions(_:)`; pools
/// carry one in their configuration.
///
/// ```swift
/// var options = SocketOptions()
/// options.keepAlive = TCPKeepAlive(idle: .seconds(30), interval: .seconds(5), count: 3)
/// options.userTimeout = .seconds(20)
/// let bootstrap = ClientBootstrap(group: group).socketOptions(options)
/// ```
public struct SocketOptions: Sendable, Hashable {
    /// `TCP_NODELAY` (default true: this library coalesces writes itself).
    public var noDelay: Bool = true
    /// TCP keep-alive and its timings (nil: off unless the system turns it on).
    public var keepAlive: TCPKeepAlive?
    /// `TCP_USER_TIMEOUT` (nil: the kernel's default).
    public var userTimeout: TimeAmount?
    /// `TCP_NOTSENT_LOWAT` in bytes (nil: the kernel's default).
    public var notSentLowWatermark: Int?
    /// `SO_LINGER` seconds (nil: the kernel's default; 0: close sends a reset).
    public var lingerSeconds: Int?
    /// `SO_RCVBUF` in bytes (nil: the kernel's autotuning).
    public var receiveBufferSize: Int?
    /// `SO_SNDBUF` in bytes (nil: the kernel's autotuning).
    public var sendBufferSize: Int?

    public init() {}

    /// The options as typed channel options, in the order they are applied.
    var settings: [(ChannelOptionKey, any Sendable)] {
        var settings: [(ChannelOptionKey, any Sendable)] = [(.tcpNoDelay, self.noDelay)]
        if let keepAlive = self.keepAlive { settings.append((.tcpKeepAlive, keepAlive)) }
        if let userTimeout = self.userTimeout { settings.append((.tcpUserTimeout, userTimeout)) }
        if let lowWatermark = self.notSentLowWatermark { settings.append((.tcpNotSentLowWatermark, lowWatermark)) }
        if let linger = self.lingerSeconds { settings.append((.lingerSeconds, linger)) }
        if let size = self.receiveBufferSize { settings.append((.receiveBufferSize, size)) }
        if let size = self.sendBufferSize { settings.append((.sendBufferSize, size)) }
        return settings
    }
}

extension ClientBootstrap {
    /// Sets every option of `options` on each new channel (before the initializer runs).
    public func socketOptions(_ options: SocketOptions) -> ClientBootstrap {
        var copy = self
        for (key, value) in options.settings { copy.setup.set(key, value) }
        return copy
    }
}

extension ServerBootstrap {
    /// Sets every option of `options` on each accepted channel.
    public func childSocketOptions(_ options: SocketOptions) -> ServerBootstrap {
        var copy = self
        for (key, value) in options.settings { copy.childSetup.set(key, value) }
        return copy
    }
}
