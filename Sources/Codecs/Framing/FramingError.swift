/// An error of a framing decoder or encoder: bad or oversized input.
///
/// Thread-safe (a value). A decoder that throws closes its channel: the byte stream can no
/// longer be trusted to be in frame.
public struct FramingError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }

        /// A frame (or line) is longer than the decoder's maximum.
        public static let frameTooLarge = Code("frame too large")
        /// More bytes are buffered than the handler's maximum allows.
        public static let bufferLimitExceeded = Code("buffer limit exceeded")
        /// A length field holds a value that cannot be a frame length.
        public static let invalidLength = Code("invalid length")
        /// The input ended in the middle of a frame.
        public static let leftoverBytesAtEOF = Code("leftover bytes at end of input")
        /// A message that cannot be encoded (too large for its length field).
        public static let unencodable = Code("unencodable message")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}
