/// An IPv4 or IPv6 address with a port.
///
/// Thread-safe (a value). No C types appear here; conversion to and from `sockaddr` lives in
/// `System/`.
///
/// ```swift
/// let address = try SocketAddress(ipAddress: "127.0.0.1", port: 11211)
/// print(address)  // 127.0.0.1:11211
/// ```
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    enum Host: Hashable, Sendable {
        /// Four address bytes as they appear on the wire (network order in memory).
        case v4(UInt32)
        /// Sixteen address bytes, split into two words in memory order, plus the scope id.
        case v6(UInt64, UInt64, scopeID: UInt32)
    }

    let host: Host
    /// The TCP port, 0...65535.
    public let port: Int

    init(host: Host, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether this is an IPv6 address.
    public var isIPv6: Bool {
        if case .v6 = self.host { return true }
        return false
    }

    /// The same host with another port.
    public func withPort(_ port: Int) -> SocketAddress {
        SocketAddress(host: self.host, port: port)
    }

    public var description: String {
        self.isIPv6 ? "[\(self.ipAddress)]:\(self.port)" : "\(self.ipAddress):\(self.port)"
    }
}
