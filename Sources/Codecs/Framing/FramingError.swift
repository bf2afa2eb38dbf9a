public import Channels

/// An error of a framing decoder or encoder: bad or oversized input.
///
/// Thread-safe (a value). A decoder that throws closes its channel: the byte stream can no
/// longer be trusted to be in frame.
public struct FramingError: CodedError, Sendable {
    public typealias Code = ErrorCode<FramingError>

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode where Area == FramingError {
    /// A frame (or line) is longer than the decoder's maximum.
    public static var frameTooLarge: Self { Self("frame too large") }
    /// More bytes are buffered than the handler's maximum allows.
    public static var bufferLimitExceeded: Self { Self("buffer limit exceeded") }
    /// A length field holds a value that cannot be a frame length.
    public static var invalidLength: Self { Self("invalid length") }
    /// The input ended in the middle of a frame.
    public static var leftoverBytesAtEOF: Self { Self("leftover bytes at end of input") }
    /// A message that cannot be encoded (too large for its length field).
    public static var unencodable: Self { Self("unencodable message") }
}
