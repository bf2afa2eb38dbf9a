public import Channels

/// An error of the request/response correlator.
///
/// Thread-safe (a value).
public struct RequestResponseError: CodedError, Sendable {
    public typealias Code = ErrorCode<RequestResponseError>

    public let code: Code
    public let message: String
    /// What closed the connection, when known.
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
}

extension ErrorCode where Area == RequestResponseError {
    /// The connection closed (or failed) before the response arrived.
    public static var channelClosedBeforeResponse: Self { Self("channel closed before the response") }
    /// A response arrived with no request waiting for it; the connection is closed.
    public static var unexpectedResponse: Self { Self("unexpected response") }
    /// The server sent nothing for `responseTimeout` while requests were outstanding; the
    /// connection is closed.
    public static var responseTimeout: Self { Self("response timeout") }
}
