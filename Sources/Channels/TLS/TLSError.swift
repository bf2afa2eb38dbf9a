/// A TLS failure, with the reason OpenSSL gave.
///
/// Thread-safe (a value). Every handshake or record failure closes the connection; no
/// application byte is sent in clear before the handshake succeeded.
///
/// ```swift
/// catch let error as TLSError where error.code == .hostnameMismatch { print(error.message) }
/// ```
public struct TLSError: CodedError, Sendable {
    public typealias Code = ErrorCode<TLSError>

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode where Area == TLSError {
    /// The configuration cannot be used (a missing file, a key that does not match, …).
    public static var invalidConfiguration: Self { Self("invalid TLS configuration") }
    /// The peer's certificate does not chain to a trusted root (including self-signed ones).
    public static var untrustedCertificate: Self { Self("untrusted certificate") }
    /// The certificate is valid but not for the name or address we connected to.
    public static var hostnameMismatch: Self { Self("host name mismatch") }
    /// The certificate is outside its validity period.
    public static var certificateExpired: Self { Self("certificate expired") }
    /// Any other certificate verification failure.
    public static var certificateRejected: Self { Self("certificate rejected") }
    /// The handshake failed (the reason says why: an alert, no shared protocol version, …).
    public static var handshakeFailed: Self { Self("handshake failed") }
    /// The handshake did not finish within the handshake timeout.
    public static var handshakeTimeout: Self { Self("handshake timeout") }
    /// The peer closed the connection without a close_notify (a possible truncation).
    public static var uncleanShutdown: Self { Self("unclean shutdown") }
    /// More plaintext was written before the handshake finished than the handler buffers.
    public static var bufferLimitExceeded: Self { Self("plaintext buffer limit exceeded") }
    /// A record could not be read or written after the handshake.
    public static var recordFailed: Self { Self("TLS record failure") }
}

/// Inbound user events of `TLSHandler`.
public enum TLSEvent: Sendable, Equatable {
    /// The handshake succeeded; the protocol ALPN chose, if any.
    case handshakeCompleted(negotiatedALPN: String?)
    /// Both close_notify alerts were exchanged.
    case shutdownCompleted
}
