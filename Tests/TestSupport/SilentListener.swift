import Glibc

/// A loopback listener that never accepts: once its tiny backlog is full the kernel drops
/// new SYNs, so a connect to it hangs until the client's own timeout. Test-only, so it
/// calls the kernel directly rather than through the library.
public final class SilentListener: @unchecked Sendable {
    // SAFETY: the fd is set in init and closed once in close(); no concurrent use.
    private var fd: Int32
    public let port: Int

    public init() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        listen(fd, 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    public func close() {
        if self.fd >= 0 {
            _ = Glibc.close(self.fd)
            self.fd = -1
        }
    }

    deinit { self.close() }
}
