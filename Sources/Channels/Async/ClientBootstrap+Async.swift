extension ClientBootstrap {
    /// Connects and wraps the new channel into an `AsyncChannel` before its first read.
    ///
    /// The channel initializer runs first (set up framing, codecs, TLS there); the async
    /// channel reads what the pipeline's last handler produces.
    ///
    /// ```swift
    /// let connection = try await ClientBootstrap(group: group)
    ///     .connect(host: "localhost", port: 6379, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
    /// ```
    ///
    /// - Throws: the connect's `ChannelError` (refused, timed out, unresolvable), or a
    ///   `PipelineError` when the pipeline does not fit `Inbound`/`Outbound`.
    public func connect<Inbound: Sendable, Outbound: Sendable>(
        host: String,
        port: Int,
        inbound: Inbound.Type = Inbound.self,
        outbound: Outbound.Type = Outbound.self,
        configuration: AsyncChannel<Inbound, Outbound>.Configuration = .init()
    ) async throws -> AsyncChannel<Inbound, Outbound> {
        let channel = try await self.wrappingAsync(configuration).connect(host: host, port: port).get()
        return try await Self.asyncChannel(of: channel, configuration: configuration)
    }

    /// Connects to `address` and wraps the channel as `connect(host:port:inbound:outbound:configuration:)` does.
    public func connect<Inbound: Sendable, Outbound: Sendable>(
        to address: SocketAddress,
        inbound: Inbound.Type = Inbound.self,
        outbound: Outbound.Type = Outbound.self,
        configuration: AsyncChannel<Inbound, Outbound>.Configuration = .init()
    ) async throws -> AsyncChannel<Inbound, Outbound> {
        let channel = try await self.wrappingAsync(configuration).connect(to: address).get()
        return try await Self.asyncChannel(of: channel, configuration: configuration)
    }

    /// This bootstrap with an initializer that also adds the async channel's handler last.
    private func wrappingAsync<Inbound: Sendable, Outbound: Sendable>(
        _ configuration: AsyncChannel<Inbound, Outbound>.Configuration
    ) -> ClientBootstrap {
        let initializer = self.initializer
        return self.channelInitializer { channel in
            try initializer?(channel)
            _ = try AsyncChannel<Inbound, Outbound>(wrappingSynchronously: channel, configuration: configuration)
        }
    }

    /// The async channel whose handler the initializer added to `channel`.
    static func asyncChannel<Inbound: Sendable, Outbound: Sendable>(
        of channel: any Channel,
        configuration: AsyncChannel<Inbound, Outbound>.Configuration
    ) async throws -> AsyncChannel<Inbound, Outbound> {
        try await channel.eventLoop.submit {
            let handler = try channel.pipeline.syncOperations.handler(type: AsyncChannelHandler<Inbound, Outbound>.self)
            return AsyncChannel(channel: channel, bridge: handler.bridge, configuration: configuration)
        }.get()
    }
}
