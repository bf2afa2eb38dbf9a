public import Channels

/// Turns a stream of bytes into messages, one at a time.
///
/// A decoder is a value with no I/O: `ByteToMessageHandler` feeds it the bytes received so
/// far and calls `decode` until it returns nil ("need more bytes"). A decoder consumes the
/// bytes of each message it returns (by moving the buffer's reader index) and leaves the
/// rest. Throwing means the stream is broken; the handler then closes the channel.
///
/// ```swift
/// struct TwoByteFrames: ByteToMessageDecoder {
///     mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
///         buffer.readSlice(length: 2)
///     }
/// }
/// ```
public protocol ByteToMessageDecoder {
    associatedtype Message

    /// Decodes one message from the front of `buffer`, or returns nil when more bytes are
    /// needed — consuming nothing then, unless the decoder keeps what it consumed in its own
    /// state (the whole elements of a long array, say, so that it is not parsed again on every
    /// read) and reports at `decodeLast` a message the input ended inside.
    mutating func decode(buffer: inout ByteBuffer) throws -> Message?

    /// Called at end of input until it returns nil: a last chance for messages that are
    /// complete only because the input ended. Bytes left after that are reported as
    /// `FramingError.leftoverBytesAtEOF`.
    mutating func decodeLast(buffer: inout ByteBuffer) throws -> Message?
}

extension ByteToMessageDecoder {
    public mutating func decodeLast(buffer: inout ByteBuffer) throws -> Message? {
        try self.decode(buffer: &buffer)
    }
}

/// Turns messages into bytes.
///
/// ```swift
/// struct LineEncoder: MessageToByteEncoder {
///     func encode(_ line: String, into buffer: inout ByteBuffer) throws {
///         buffer.writeString(line + "\n")
///     }
/// }
/// ```
public protocol MessageToByteEncoder {
    associatedtype Message

    /// Appends the bytes of `message` to `buffer`.
    mutating func encode(_ message: Message, into buffer: inout ByteBuffer) throws
}
