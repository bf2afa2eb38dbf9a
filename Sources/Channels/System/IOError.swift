import Glibc

/// A failed system call: the `errno` it set and the name of the call.
///
/// Thread-safe (a value). Peer-caused failures (`ECONNRESET`, `EPIPE`, `ECONNREFUSED`,
/// `ETIMEDOUT`) arrive as an `IOError`; they close only the channel they happened on.
public struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `errno` value the call set.
    public let errnoCode: Int32
    /// The system call that failed, such as `"connect"`.
    public let call: String

    public init(errnoCode: Int32, call: String) {
        self.errnoCode = errnoCode
        self.call = call
    }

    /// The peer reset the connection (`ECONNRESET`).
    public var isConnectionReset: Bool { self.errnoCode == ECONNRESET }
    /// Nobody listens on the address (`ECONNREFUSED`).
    public var isConnectionRefused: Bool { self.errnoCode == ECONNREFUSED }
    /// The peer is gone while we were writing (`EPIPE`).
    public var isBrokenPipe: Bool { self.errnoCode == EPIPE }

    public var description: String {
        let reason = strerror(self.errnoCode).map { String(cString: $0) } ?? "unknown error"
        return "\(self.call) failed: \(reason) (errno \(self.errnoCode))"
    }
}
