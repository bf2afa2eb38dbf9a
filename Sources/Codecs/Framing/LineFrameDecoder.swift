public import Channels

/// Splits input into lines ending in `\n` or `\r\n`; the delimiter is not part of the line.
///
/// A line longer than `maximumLength` (delimiter excluded) is a `FramingError.frameTooLarge`
/// as soon as that many bytes arrive without a newline: the decoder never buffers more.
/// At end of input an unterminated last line is an error (see `ByteToMessageHandler`).
///
/// ```swift
/// ByteToMessageHandler(LineFrameDecoder(maximumLength: 8192))   // ByteBuffer -> ByteBuffer (one per line)
/// ```
public struct LineFrameDecoder: ByteToMessageDecoder {
    public let maximumLength: Int
    /// Where the newline search resumes, so a long line arriving in pieces is scanned once.
    private var scanned = 0

    public init(maximumLength: Int = 8192) {
        self.maximumLength = maximumLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let start = buffer.readerIndex
        guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n"), from: start + self.scanned) else {
            self.scanned = buffer.readableBytes
            // One byte of slack: a "\r" may still be followed by its "\n".
            if buffer.readableBytes > self.maximumLength + 1 {
                throw FramingError(.frameTooLarge, "no line end within \(self.maximumLength) bytes")
            }
            return nil
        }
        self.scanned = 0
        var length = newline - start
        if length > 0, buffer.getByte(at: newline - 1) == UInt8(ascii: "\r") { length -= 1 }
        guard length <= self.maximumLength else {
            throw FramingError(.frameTooLarge, "a \(length)-byte line exceeds the maximum of \(self.maximumLength)")
        }
        let line = buffer.getSlice(at: start, length: length)
        buffer.moveReaderIndex(to: newline + 1)
        return line
    }
}
