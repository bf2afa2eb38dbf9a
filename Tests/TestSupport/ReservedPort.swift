import Glibc

/// A loopback port held by a bound socket that does not listen: connects to it are refused
/// at once, and no other test can take the port until `release()`. It lies below the
/// ephemeral range, so no outgoing connect is given it after the release either (see
/// `bindLoopbackPortBelowEphemeralRange`). For "server down, then back on the same port"
/// tests.
public final class ReservedPort: @unchecked Sendable {
    // SAFETY: the fd is set in init and closed once in release(); tests call them in order.
    private var fd: Int32
    public let port: Int

    public init() throws {
        (self.fd, self.port) = try bindLoopbackPortBelowEphemeralRange()
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
