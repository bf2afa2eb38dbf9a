import CLinux
import Glibc

// The only place that turns `SocketAddress` into `sockaddr` bytes and back.
extension SocketAddress {
    /// Parses a numeric IPv4 (`"127.0.0.1"`) or IPv6 (`"::1"`) address. Host names are not
    /// resolved here; `ClientBootstrap` resolves them.
    ///
    /// - Throws: `ChannelError.invalidAddress` when the text is not a numeric address or the
    ///   port is outside 0...65535.
    public init(ipAddress: String, port: Int) throws {
        try Self.checkPort(port)
        var v4 = in_addr()
        if inet_pton(AF_INET, ipAddress, &v4) == 1 {
            self.init(host: .v4(v4.s_addr), port: port)
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, ipAddress, &v6) == 1 {
            // SAFETY: two 8-byte loads at offsets 0 and 8 read the 16 bytes of an `in6_addr`.
            let words = withUnsafeBytes(of: &v6) {
                ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
            self.init(host: .v6(words.0, words.1, scopeID: 0), port: port)
            return
        }
        throw ChannelError(.invalidAddress, "'\(ipAddress)' is not a numeric IPv4 or IPv6 address")
    }

    /// Throws `ChannelError.invalidAddress` for a port outside 0...65535: the one check of a
    /// TCP or UDP port, before anything (the resolver too) reads it.
    static func checkPort(_ port: Int) throws {
        guard (0...65535).contains(port) else {
            throw ChannelError(.invalidAddress, "port \(port) is outside 0...65535")
        }
    }

    /// A Unix-domain socket's address: `path` names the socket file (memcached `-s PATH`).
    ///
    /// - Throws: `ChannelError.invalidAddress` when the path is empty, holds a NUL byte or is
    ///   longer than the kernel's limit (107 bytes).
    public init(unixDomainSocketPath path: String) throws {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, !bytes.contains(0) else {
            throw ChannelError(.invalidAddress, "a Unix-domain socket path is not empty and has no NUL byte")
        }
        guard bytes.count < Self.maximumUnixPathLength else {
            throw ChannelError(
                .invalidAddress,
                "a Unix-domain socket path has at most \(Self.maximumUnixPathLength - 1) bytes, '\(path)' has \(bytes.count)"
            )
        }
        self.init(host: .unix(path), port: 0)
    }

    /// Where `sockaddr_un.sun_path` starts (after the family; `offset(of:)` is nil only for
    /// computed properties, which it is not).
    private static let unixPathOffset =
        MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? MemoryLayout<sa_family_t>.size

    /// The size of `sockaddr_un.sun_path`, which holds the path and its NUL.
    private static let maximumUnixPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

    /// The address in its usual text form, without the port; for a Unix-domain address, its
    /// path.
    public var ipAddress: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch self.host {
        case .unix(let path):
            return path
        case .v4(let raw):
            var address = in_addr(s_addr: raw)
            _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
        case .v6(let high, let low, _):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) {
                // SAFETY: two 8-byte stores at offsets 0 and 8 fill the 16 bytes of an `in6_addr` exactly.
                $0.storeBytes(of: high, as: UInt64.self)
                $0.storeBytes(of: low, toByteOffset: 8, as: UInt64.self)
            }
            _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    var addressFamily: Int32 {
        switch self.host {
        case .v4: return AF_INET
        case .v6: return AF_INET6
        case .unix: return AF_UNIX
        }
    }

    /// Calls `body` with this address as a `sockaddr` and its length.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        switch self.host {
        case .v4(let raw):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(self.port).bigEndian)
            address.sin_addr = in_addr(s_addr: raw)
            return try withUnsafePointer(to: &address) {
                // SAFETY: sockaddr_in is layout-compatible with the sockaddr header.
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(let high, let low, let scopeID):
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(self.port).bigEndian)
            address.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &address.sin6_addr) {
                // SAFETY: two 8-byte stores at offsets 0 and 8 fill the 16 bytes of an `in6_addr` exactly.
                $0.storeBytes(of: high, as: UInt64.self)
                $0.storeBytes(of: low, toByteOffset: 8, as: UInt64.self)
            }
            return try withUnsafePointer(to: &address) {
                // SAFETY: sockaddr_in6 is layout-compatible with the sockaddr header.
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        case .unix(let path):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8.prefix(Self.maximumUnixPathLength - 1))
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) } // the rest stays NUL
            let length = Self.unixPathOffset + bytes.count + 1
            return try withUnsafePointer(to: &address) {
                // SAFETY: sockaddr_un is layout-compatible with the sockaddr header.
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(length))
                }
            }
        }
    }

    /// Reads an address the kernel filled in (`length` of its bytes); nil for families we do
    /// not speak.
    init?(storage: UnsafePointer<sockaddr_storage>, length: socklen_t) {
        switch Int32(storage.pointee.ss_family) {
        case AF_UNIX:
            // SAFETY: the family says the storage holds a sockaddr_un; `length` says how much of
            // its path the kernel wrote (none for an unnamed socket).
            var address = UnsafeRawPointer(storage).loadUnaligned(as: sockaddr_un.self)
            let pathLength = max(0, Int(length) - Self.unixPathOffset)
            let path = withUnsafeBytes(of: &address.sun_path) { Array($0.prefix(pathLength).prefix { $0 != 0 }) }
            self.init(host: .unix(String(decoding: path, as: UTF8.self)), port: 0)
        case AF_INET:
            // SAFETY: the family says the storage holds a sockaddr_in.
            let address = UnsafeRawPointer(storage).loadUnaligned(as: sockaddr_in.self)
            self.init(host: .v4(address.sin_addr.s_addr), port: Int(UInt16(bigEndian: address.sin_port)))
        case AF_INET6:
            // SAFETY: the family says the storage holds a sockaddr_in6.
            var address = UnsafeRawPointer(storage).loadUnaligned(as: sockaddr_in6.self)
            let words = withUnsafeBytes(of: &address.sin6_addr) {
                ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
            self.init(
                host: .v6(words.0, words.1, scopeID: address.sin6_scope_id),
                port: Int(UInt16(bigEndian: address.sin6_port))
            )
        default:
            return nil
        }
    }
}
