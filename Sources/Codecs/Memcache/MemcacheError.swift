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
public struct MemcacheError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }

        /// The key is empty, too long, or holds a space or control byte. Nothing was sent.
        public static let invalidKey = Code("invalid key")
        /// An argument cannot be encoded (a meta flag token with a space, say). Nothing was sent.
        public static let invalidArgument = Code("invalid argument")
        /// The server answered `ERROR`: it does not know the command.
        public static let unknownCommand = Code("unknown command")
        /// The server answered `CLIENT_ERROR <message>`.
        public static let clientError = Code("client error")
        /// The server answered `SERVER_ERROR <message>`.
        public static let serverError = Code("server error")
        /// The server's bytes do not follow the protocol; the connection is closed.
        public static let protocolViolation = Code("protocol violation")
        /// A reply of a kind this request cannot have.
        public static let unexpectedResponse = Code("unexpected response")
        /// A value larger than the decoder's maximum.
        public static let valueTooLarge = Code("value too large")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}
