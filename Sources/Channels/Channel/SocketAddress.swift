/// An IPv4 or IPv6 address with a port, or the path of a Unix-domain socket.
///
/// Thread-safe (a value). No C types appear here; conversion to and from `sockaddr` lives in
/// `System/`.
///
/// ```swift
/// let address = try SocketAddress(ipAddress: "127.0.0.1", port: 11211)
/// print(address)  // 127.0.0.1:11211
/// let local = try SocketAddress(unixDomainSocketPath: "/run/memcached/memcached.sock")
/// print(local)    // unix:/run/memcached/memcached.sock
/// ```
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    enum Host: Hashable, Sendable {
        /// Four address bytes as they appear on the wire (network order in memory).
        case v4(UInt32)
        /// Sixteen address bytes, split into two words in memory order, plus the scope id.
        case v6(UInt64, UInt64, scopeID: UInt32)
        /// A Unix-domain socket's path (empty for an unnamed socket, such as an accepted one's peer).
        case unix(String)
    }

    let host: Host
    /// The TCP port, 0...65535; 0 for a Unix-domain address.
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

    /// The path of a Unix-domain address; nil for an IP address.
    public var unixDomainSocketPath: String? {
        if case .unix(let path) = self.host { return path }
        return nil
    }

    /// The same host with another port (a Unix-domain address stays itself).
    public func withPort(_ port: Int) -> SocketAddress {
        if case .unix = self.host { return self }
        return SocketAddress(host: self.host, port: port)
    }

    public var description: String {
        switch self.host {
        case .unix(let path): return "unix:\(path)"
        case .v6: return "[\(self.ipAddress)]:\(self.port)"
        case .v4: return "\(self.ipAddress):\(self.port)"
        }
    }
}
