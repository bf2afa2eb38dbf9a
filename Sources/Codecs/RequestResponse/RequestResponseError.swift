/// An error of the request/response correlator.
///
/// Thread-safe (a value).
public struct RequestResponseError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }

        /// The connection closed (or failed) before the response arrived.
        public static let channelClosedBeforeResponse = Code("channel closed before the response")
        /// A response arrived with no request waiting for it; the connection is closed.
        public static let unexpectedResponse = Code("unexpected response")
    }

    public let code: Code
    public let message: String
    /// What closed the connection, when known.
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        let base = "\(self.code): \(self.message)"
        return self.cause.map { "\(base) (\($0))" } ?? base
    }
}
