extension DatagramBootstrap {
    /// Binds and wraps the new channel into an `AsyncChannel` before its first datagram.
    ///
    /// With no handlers of your own, `Inbound` and `Outbound` are
    /// `AddressedEnvelope<ByteBuffer>`. A socket error (an ICMP report, a datagram the kernel
    /// refused) does not end `inbound`: UDP promises no delivery, so neither does the writer.
    ///
    /// ```swift
    /// let socket = try await DatagramBootstrap(group: group).bind(
    ///     host: "127.0.0.1", port: 0,
    ///     inbound: AddressedEnvelope<ByteBuffer>.self, outbound: AddressedEnvelope<ByteBuffer>.self)
    /// try await socket.executeThenClose { inbound, outbound in
    ///     for try await datagram in inbound { try await outbound.write(datagram) }  // echo
    /// }
    /// ```
    public func bind<Inbound: Sendable, Outbound: Sendable>(
        host: String,
        port: Int,
        inbound: Inbound.Type = Inbound.self,
        outbound: Outbound.Type = Outbound.self,
        configuration: AsyncChannel<Inbound, Outbound>.Configuration = .init(isOutboundHalfClosureEnabled: false)
    ) async throws -> AsyncChannel<Inbound, Outbound> {
        let channel = try await self.wrappingAsync(configuration).bind(host: host, port: port)
        return try await ClientBootstrap.asyncChannel(of: channel, configuration: configuration)
    }

    /// Opens a connected channel (`connect(host:port:)`) wrapped into an `AsyncChannel`; its
    /// `Outbound` may be `ByteBuffer` (to the peer) when no handler of yours changes it.
    public func connect<Inbound: Sendable, Outbound: Sendable>(
        host: String,
        port: Int,
        inbound: Inbound.Type = Inbound.self,
        outbound: Outbound.Type = Outbound.self,
        configuration: AsyncChannel<Inbound, Outbound>.Configuration = .init(isOutboundHalfClosureEnabled: false)
    ) async throws -> AsyncChannel<Inbound, Outbound> {
        let channel = try await self.wrappingAsync(configuration).connect(host: host, port: port)
        return try await ClientBootstrap.asyncChannel(of: channel, configuration: configuration)
    }

    /// This bootstrap with an initializer that also adds the async channel's handler last.
    private func wrappingAsync<Inbound: Sendable, Outbound: Sendable>(
        _ configuration: AsyncChannel<Inbound, Outbound>.Configuration
    ) -> DatagramBootstrap {
        let initializer = self.currentInitializer
        return self.channelInitializer { channel in
            try initializer?(channel)
            _ = try AsyncChannel<Inbound, Outbound>(wrappingSynchronously: channel, configuration: configuration)
        }
    }
}
