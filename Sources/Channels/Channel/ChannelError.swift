/// An error of a channel, its event loop or its bootstrap.
///
/// Thread-safe (a value). An extensible struct rather than an enum, so new codes are not a
/// breaking change. Match on `code`:
///
/// ```swift
/// do { try await channel.writeAndFlush(buffer).get() }
/// catch let error as ChannelError where error.code == .ioOnClosedChannel { reconnect() }
/// ```
public struct ChannelError: CodedError, Sendable {
    /// What kind of failure this is.
    public typealias Code = ErrorCode<ChannelError>

    public let code: Code
    /// A human-readable explanation.
    public let message: String
    /// The underlying failure, such as an `IOError`, when there is one.
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
}

extension ErrorCode where Area == ChannelError {
    /// An operation on a channel that is closed (or closed while the operation waited).
    public static var ioOnClosedChannel: Self { Self("I/O on closed channel") }
    /// A write after the output side was shut down.
    public static var outputClosed: Self { Self("output closed") }
    /// The connect did not finish within the connect timeout.
    public static var connectTimeout: Self { Self("connect timeout") }
    /// An address that is not a valid IP address or port, or a Unix-domain path that is empty,
    /// too long or holds a NUL byte.
    public static var invalidAddress: Self { Self("invalid address") }
    /// Something else is at the address a server binds: another listener on a Unix-domain
    /// socket's path, or a file that is not a socket.
    public static var addressInUse: Self { Self("address in use") }
    /// No address of a host name connected: the message lists each address tried and why,
    /// and `cause` is the last attempt's error.
    public static var connectFailed: Self { Self("connect failed") }
    /// Nothing was read for the time a `ReadTimeoutHandler` allows.
    public static var readTimeout: Self { Self("read timeout") }
    /// A host name the resolver could not turn into an address.
    public static var unresolvableHost: Self { Self("unresolvable host") }
    /// The event loop (or its group) has shut down.
    public static var eventLoopShutdown: Self { Self("event loop shut down") }
    /// A scheduled task was cancelled before it ran.
    public static var cancelled: Self { Self("cancelled") }
    /// The operation is not supported by this kind of channel.
    public static var unsupportedOperation: Self { Self("unsupported operation") }
    /// An argument outside what the call accepts, such as an event loop group of no loops.
    public static var invalidArgument: Self { Self("invalid argument") }
}
