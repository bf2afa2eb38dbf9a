public import Channels

/// Splits input into frames of exactly `frameLength` bytes.
///
/// ```swift
/// ByteToMessageHandler(FixedLengthFrameDecoder(frameLength: 16))
/// ```
public struct FixedLengthFrameDecoder: ByteToMessageDecoder {
    public let frameLength: Int

    /// - Precondition: `frameLength > 0`.
    public init(frameLength: Int) {
        precondition(frameLength > 0, "a frame needs at least one byte") // SAFETY: caller's configuration
        self.frameLength = frameLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        buffer.readSlice(length: self.frameLength)
    }
}
