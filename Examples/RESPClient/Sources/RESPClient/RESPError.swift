public import Channels

/// The one error the RESP client throws.
///
/// Thread-safe (a value). Match on `code`; `cause` carries the underlying error (a pool,
/// connection or decoding error).
///
/// ```swift
/// catch let error as RESPError where error.code == .serverError { print(error.message) }  // "ERR ..."
/// ```
public struct RESPError: CodedError, Sendable {
    public typealias Code = ErrorCode<RESPError>
    public let code: Code
    /// The server's words for `.serverError` (`ERR unknown command ...`), else an explanation.
    public let message: String
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }
}

extension ErrorCode where Area == RESPError {
    /// The server answered with an error reply (`-ERR ...`, `-WRONGTYPE ...`).
    public static var serverError: Self { Self("server error") }
    /// The server's bytes are not RESP2 (or exceed a limit); the connection was closed.
    public static var protocolViolation: Self { Self("protocol violation") }
    /// A reply of another type than the command has.
    public static var unexpectedReply: Self { Self("unexpected reply") }
    /// The server did not answer within the response timeout; the connection was closed.
    public static var timeout: Self { Self("timeout") }
    /// No connection could be had or kept (refused, closed, pool shut down or exhausted).
    public static var connectionFailed: Self { Self("connection failed") }
}
