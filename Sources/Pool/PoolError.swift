public import Channels

/// An error of a connection pool.
///
/// Thread-safe (a value). Match on `code`; `cause` carries the underlying error (the last
/// connect failure for `.connectFailed`).
///
/// ```swift
/// catch let error as PoolError where error.code == .tooManyWaiters { shedLoad() }
/// ```
public struct PoolError: CodedError, Sendable {
    public typealias Code = ErrorCode<PoolError>

    public let code: Code
    public let message: String
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
}

extension ErrorCode where Area == PoolError {
    /// The waiting queue of the caller's loop is full (`maxWaiters`); the request was refused at once.
    public static var tooManyWaiters: Self { Self("too many waiters") }
    /// No connection became free before the lease deadline.
    public static var leaseTimeout: Self { Self("lease timeout") }
    /// Connecting to the server failed, and the pool fails requests fast until a probe succeeds.
    public static var connectFailed: Self { Self("connect failed") }
    /// The server was reached but refused the new connection's setup (its credentials, say):
    /// a configuration error, not an outage. The cause is the connection factory's error.
    /// Connects back off as after any failed connect (a wrong password must not become a
    /// connect storm), but the pool logs it as a configuration error and waiting callers get
    /// this, not `.connectFailed`.
    public static var setupRefused: Self { Self("setup refused") }
    /// The pool is shutting down or shut down.
    public static var shutdown: Self { Self("pool shut down") }
    /// The caller's task was cancelled while it waited for a connection.
    public static var cancelled: Self { Self("cancelled") }
}
