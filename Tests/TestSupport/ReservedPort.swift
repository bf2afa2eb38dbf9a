import Glibc

/// A loopback port held by a bound socket that does not listen: connects to it are refused
/// at once, and no other test can take the port (nor be given it by the kernel) until
/// `release()`. For "server down, then back on the same port" tests, where a port that was
/// merely free a moment ago could be handed to another test's listener in between.
public final class ReservedPort: @unchecked Sendable {
    // SAFETY: the fd is set in init and closed once in release(); tests call them in order.
    private var fd: Int32
    public let port: Int

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            close(fd)
            throw TestSupportError("cannot reserve a port: errno \(errno)")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Frees the port for the test's own server.
    public func release() {
        if self.fd >= 0 {
            close(self.fd)
            self.fd = -1
        }
    }

    deinit { self.release() }
}
