extension SocketAddress {
    /// The TCP addresses of `host`, in the order the system prefers (`getaddrinfo`: IPv6 and
    /// IPv4, `/etc/hosts` and DNS). The lookup blocks, so it runs on a thread of its own: no
    /// event loop and no thread of Swift's cooperative pool waits for the network.
    ///
    /// ```swift
    /// let addresses = try await SocketAddress.resolve(host: "memcached.internal", port: 11211)
    /// ```
    ///
    /// - Throws: `ChannelError.unresolvableHost` with the resolver's reason;
    ///   `ChannelError.invalidAddress` for a port outside 0...65535 or a host with a NUL byte.
    public static func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        try await withCheckedThrowingContinuation { continuation in
            AddressResolver.resolveOnOwnThread(host: host, port: port) { continuation.resume(with: $0) }
        }
    }
}
