/// Sets up a new channel's pipeline. Runs on the channel's loop before the channel is
/// registered, so handlers are in place before the first byte; throwing closes the channel.
///
/// ```swift
/// let initializer: ChannelInitializer = { channel in
///     try channel.pipeline.syncOperations.addHandlers(FrameDecoder(), EchoHandler())
/// }
/// ```
public typealias ChannelInitializer = @Sendable (any Channel) throws -> Void

/// Options and initializer applied to every new socket channel of a bootstrap.
struct ChannelSetup: Sendable {
    var options: [(ChannelOptionKey, any Sendable)] = [(.tcpNoDelay, true)]
    var initializer: ChannelInitializer?

    mutating func set<Value: Sendable>(_ option: ChannelOption<Value>, _ value: Value) {
        self.set(option.key, value)
    }

    mutating func set(_ key: ChannelOptionKey, _ value: any Sendable) {
        self.options.removeAll { $0.0 == key }
        self.options.append((key, value))
    }

    /// Applies the options and runs the initializer. Loop only.
    func apply(to channel: SocketChannel) throws {
        for (key, value) in self.options {
            try channel.applyOption(key, value)
        }
        try self.initializer?(channel)
    }
}
