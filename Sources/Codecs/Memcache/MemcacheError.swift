public import Channels

/// An error of the memcache codec or of a memcache request.
///
/// Thread-safe (a value). Server error replies (`ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`)
/// fail only the request they answer; `protocolViolation` means the byte stream is broken and
/// the connection is closed.
///
/// ```swift
/// do { try await connection.increment("page-views", by: 1) }
/// catch let error as MemcacheError where error.code == .clientError { print(error.message) }
/// ```
public struct MemcacheError: CodedError, Sendable, Equatable {
    public typealias Code = ErrorCode<MemcacheError>

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode where Area == MemcacheError {
    /// The key is empty, too long, or holds a space or control byte. Nothing was sent.
    public static var invalidKey: Self { Self("invalid key") }
    /// An argument cannot be encoded (a meta flag token with a space, say). Nothing was sent.
    public static var invalidArgument: Self { Self("invalid argument") }
    /// The server answered `ERROR`: it does not know the command.
    public static var unknownCommand: Self { Self("unknown command") }
    /// The server answered `CLIENT_ERROR <message>`.
    public static var clientError: Self { Self("client error") }
    /// The server answered `SERVER_ERROR <message>`.
    public static var serverError: Self { Self("server error") }
    /// The server's bytes do not follow the protocol; the connection is closed.
    public static var protocolViolation: Self { Self("protocol violation") }
    /// A reply of a kind this request cannot have.
    public static var unexpectedResponse: Self { Self("unexpected response") }
    /// A value larger than the decoder's maximum.
    public static var valueTooLarge: Self { Self("value too large") }
}
