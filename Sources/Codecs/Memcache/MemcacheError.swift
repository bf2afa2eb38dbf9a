public import Channels

/// The one error a memcache call throws (`MemcacheConnection`, `MemcachePool`,
/// `MemcacheServerSet`): its `code` says what happened, its `cause` carries the underlying
/// error (an `IOError`, a `TLSError`, a `PoolError`, …) when there is one.
///
/// Thread-safe (a value). A call also throws `CancellationError` when its task is cancelled.
/// The codes, by where they come from:
/// - the request: `invalidKey`, `invalidArgument`, `unsupportedCommand` (nothing was sent);
/// - a typed value: `typeMismatch` (the stored value is not of the type asked for);
/// - the server's reply, for that request only: `unknownCommand` (`ERROR`), `clientError`
///   (`CLIENT_ERROR …`), `serverError` (`SERVER_ERROR …`), `unexpectedResponse`,
///   `authenticationFailed` (the server wants credentials, or refused them);
/// - the connection, for every request in flight on it: `protocolViolation` (bytes that are
///   not memcache), `valueTooLarge`, `connectionClosed` (closed or failed before the reply),
///   `timeout` (the server was silent for the response timeout), `tlsFailure`;
/// - the pool: `connectFailed` (the server cannot be reached; also while the pool's breaker
///   fails requests fast), `poolExhausted` (no connection could be leased in time, or the
///   queue of waiters is full), `shutdown`.
///
/// ```swift
/// do { try await cache.increment("page-views", by: 1) }
/// catch let error as MemcacheError where error.code == .clientError { print(error.message) }
/// ```
public struct MemcacheError: CodedError, Sendable, Equatable {
    public typealias Code = ErrorCode<MemcacheError>

    public let code: Code
    public let message: String
    /// The underlying error, when there is one.
    public let cause: (any Error)?
    /// The connection closed before any byte of this request's reply arrived, so sending
    /// the request again (on another connection) cannot deliver a reply twice. Set by the
    /// connection's handler; the pool's retry of idempotent reads looks at it.
    package let closedBeforeReply: Bool

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.init(code, message, cause: cause, closedBeforeReply: false)
    }

    package init(_ code: Code, _ message: String, cause: (any Error)?, closedBeforeReply: Bool) {
        self.code = code
        self.message = message
        self.cause = cause
        self.closedBeforeReply = closedBeforeReply
    }

    /// Equal when code and message are (the cause is not compared).
    public static func == (lhs: MemcacheError, rhs: MemcacheError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }
}

extension ErrorCode where Area == MemcacheError {
    /// The key is empty, too long, or holds a space or control byte. Nothing was sent.
    public static var invalidKey: Self { Self("invalid key") }
    /// An argument cannot be encoded (a meta flag token with a space, say). Nothing was sent.
    public static var invalidArgument: Self { Self("invalid argument") }
    /// The server's protocol (`MemcacheProtocol`: text only, or twemproxy) has no such
    /// command. Nothing was sent; the connection is unaffected.
    public static var unsupportedCommand: Self { Self("unsupported command") }
    /// The server answered `ERROR`: it does not know the command.
    public static var unknownCommand: Self { Self("unknown command") }
    /// The server answered `CLIENT_ERROR <message>`.
    public static var clientError: Self { Self("client error") }
    /// The server answered `SERVER_ERROR <message>`.
    public static var serverError: Self { Self("server error") }
    /// The server's bytes do not follow the protocol; the connection is closed and every
    /// request in flight on it fails with this code.
    public static var protocolViolation: Self { Self("protocol violation") }
    /// A reply of a kind this request cannot have.
    public static var unexpectedResponse: Self { Self("unexpected response") }
    /// A value larger than the decoder's maximum; the connection is closed.
    public static var valueTooLarge: Self { Self("value too large") }
    /// The connection closed (or failed) before the reply arrived: the server may or may not
    /// have executed the request.
    public static var connectionClosed: Self { Self("connection closed") }
    /// The server sent nothing for the response timeout while requests were outstanding; the
    /// connection is closed.
    public static var timeout: Self { Self("timeout") }
    /// TLS failed: the handshake (an untrusted or wrong certificate, an alert) or a record
    /// later on. The cause is the `TLSError`.
    public static var tlsFailure: Self { Self("TLS failure") }
    /// No connection to the server could be made (or the pool fails fast while it is down).
    public static var connectFailed: Self { Self("connect failed") }
    /// No connection could be leased: every one was busy until the lease deadline, or the
    /// queue of waiters was full. The cause is the `PoolError`.
    public static var poolExhausted: Self { Self("pool exhausted") }
    /// A typed get found a value of another format (its client flags), or bytes that do not
    /// decode as the type asked for. The item is left as it is.
    public static var typeMismatch: Self { Self("type mismatch") }
    /// The pool (or connection) is shut down.
    public static var shutdown: Self { Self("shut down") }
    /// A replicated write (`MemcacheReplicatedRoute`) reached fewer copies than its quorum;
    /// the copies that took it keep it (memcached cannot take a write back).
    public static var quorumNotMet: Self { Self("quorum not met") }
    /// The server refused the credentials (memcached's ASCII authentication answered
    /// `CLIENT_ERROR authentication failure`), or it wants credentials this client does not
    /// send (`CLIENT_ERROR unauthenticated`). The message is the server's words. A
    /// configuration error, not an outage: never retried, and a server set does not eject
    /// the server for it.
    public static var authenticationFailed: Self { Self("authentication failed") }
    /// A value marked compressed (`MemcacheCompression`) does not decompress: corrupt or cut
    /// bytes, or a size over the decompression limit. Its key is in the message; the item is
    /// left as it is.
    public static var decompressionFailed: Self { Self("decompression failed") }
    /// A reply over UDP lost a datagram (or its datagrams arrived out of order across its
    /// messages); the request may be retried. A loss at a reply's end shows as a `.timeout`.
    public static var datagramLost: Self { Self("datagram lost") }
}
