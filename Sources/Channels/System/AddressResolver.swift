import CLinux
import Glibc

/// Host name resolution with `getaddrinfo`. It blocks, so callers run it off the event loops.
enum AddressResolver {
    /// `resolve` (or a bootstrap's own resolver) on a thread of its own (`getaddrinfo`
    /// blocks), `completion` called there with the result; called at once with the `IOError`
    /// when no thread can be started.
    static func resolveOnOwnThread(
        host: String, port: Int,
        using resolver: @escaping @Sendable (String, Int) throws -> [SocketAddress] = {
            try Self.resolve(host: $0, port: $1)
        },
        _ completion: @escaping @Sendable (Result<[SocketAddress], any Error>) -> Void
    ) {
        do {
            try OSThread.detached(name: "resolve") {
                completion(Result { try resolver(host, port) })
            }
        } catch {
            completion(.failure(error))
        }
    }

    /// Resolves `host` to TCP addresses in the order the system prefers.
    ///
    /// - Throws: `ChannelError.unresolvableHost` with the resolver's reason;
    ///   `ChannelError.invalidAddress` for a port outside 0...65535 (the resolver would take
    ///   80000 for 14464) or a host with a NUL byte (it would read only what comes before).
    @inline(never)
    static func resolve(host: String, port: Int) throws -> [SocketAddress] {
        try SocketAddress.checkPort(port)
        guard !host.utf8.contains(0) else {
            throw ChannelError(.invalidAddress, "a host name has no NUL byte")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0 else {
            let reason = String(cString: gai_strerror(rc))
            throw ChannelError(.unresolvableHost, "cannot resolve '\(host)': \(reason)")
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            if let address = current.pointee.ai_addr {
                var storage = sockaddr_storage()
                // SAFETY: ai_addrlen bytes are valid at ai_addr and fit in sockaddr_storage.
                withUnsafeMutableBytes(of: &storage) {
                    $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(current.pointee.ai_addrlen)))
                }
                if let parsed = SocketAddress(storage: &storage, length: current.pointee.ai_addrlen),
                    !addresses.contains(parsed)
                {
                    addresses.append(parsed)
                }
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            throw ChannelError(.unresolvableHost, "'\(host)' has no IPv4 or IPv6 address")
        }
        return addresses
    }
}
