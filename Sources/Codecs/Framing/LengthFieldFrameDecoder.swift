public import Channels

/// The width of a length field.
public enum LengthFieldWidth: Int, Sendable {
    case one = 1
    case two = 2
    case four = 4
    case eight = 8

    /// The largest value the field can hold.
    var maximum: UInt64 {
        self == .eight ? UInt64.max : (UInt64(1) << (UInt64(self.rawValue) * 8)) - 1
    }
}

/// Splits input into frames announced by a length field.
///
/// The frame starts at the front of the input; the length field sits `lengthFieldOffset`
/// bytes in. The frame's total size is `lengthFieldOffset + width + length + lengthAdjustment`
/// (the adjustment covers protocols whose length counts the header, or a trailer). With
/// `stripHeader` the emitted frame omits everything up to the end of the length field.
/// A frame whose size exceeds `maximumFrameLength` is a `FramingError.frameTooLarge` before
/// any of its body is buffered; a size below the header is `FramingError.invalidLength`.
///
/// ```swift
/// // 4-byte big-endian length, then that many bytes:
/// ByteToMessageHandler(LengthFieldFrameDecoder(width: .four, maximumFrameLength: 1 << 20))
/// ```
public struct LengthFieldFrameDecoder: ByteToMessageDecoder {
    public let width: LengthFieldWidth
    public let endianness: Endianness
    public let lengthFieldOffset: Int
    public let lengthAdjustment: Int
    public let stripHeader: Bool
    public let maximumFrameLength: Int

    public init(
        width: LengthFieldWidth,
        endianness: Endianness = .big,
        lengthFieldOffset: Int = 0,
        lengthAdjustment: Int = 0,
        stripHeader: Bool = true,
        maximumFrameLength: Int = 1 << 20
    ) {
        self.width = width
        self.endianness = endianness
        self.lengthFieldOffset = lengthFieldOffset
        self.lengthAdjustment = lengthAdjustment
        self.stripHeader = stripHeader
        self.maximumFrameLength = maximumFrameLength
    }

    private var headerLength: Int { self.lengthFieldOffset + self.width.rawValue }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard buffer.readableBytes >= self.headerLength else { return nil }
        let fieldIndex = buffer.readerIndex + self.lengthFieldOffset
        let announced: UInt64
        switch self.width {
        case .one:
            announced = UInt64(buffer.getInteger(at: fieldIndex, endianness: self.endianness, as: UInt8.self) ?? 0)
        case .two:
            announced = UInt64(buffer.getInteger(at: fieldIndex, endianness: self.endianness, as: UInt16.self) ?? 0)
        case .four:
            announced = UInt64(buffer.getInteger(at: fieldIndex, endianness: self.endianness, as: UInt32.self) ?? 0)
        case .eight: announced = buffer.getInteger(at: fieldIndex, endianness: self.endianness, as: UInt64.self) ?? 0
        }
        // Compute in a range that cannot overflow, whatever the peer announced.
        guard announced <= UInt64(Int.max / 2) else {
            throw FramingError(
                .frameTooLarge, "announced length \(announced) exceeds the maximum of \(self.maximumFrameLength)")
        }
        let frameLength = self.headerLength + Int(announced) + self.lengthAdjustment
        guard frameLength >= self.headerLength else {
            throw FramingError(
                .invalidLength,
                "announced length \(announced) with adjustment \(self.lengthAdjustment) is shorter than the header")
        }
        guard frameLength <= self.maximumFrameLength else {
            throw FramingError(
                .frameTooLarge, "a \(frameLength)-byte frame exceeds the maximum of \(self.maximumFrameLength)")
        }
        guard buffer.readableBytes >= frameLength else { return nil }
        var frame = buffer.readSlice(length: frameLength) ?? ByteBuffer()
        if self.stripHeader {
            frame.moveReaderIndex(forwardBy: self.headerLength)
        }
        return frame.readSlice()
    }
}

/// Writes a length field in front of each buffer: the encoder counterpart of
/// `LengthFieldFrameDecoder` (with offset 0).
///
/// ```swift
/// MessageToByteHandler(LengthFieldPrepender(width: .two))   // ByteBuffer -> [len][bytes]
/// ```
public struct LengthFieldPrepender: MessageToByteEncoder {
    public let width: LengthFieldWidth
    public let endianness: Endianness
    /// Whether the written length counts the length field itself.
    public let includesLengthField: Bool

    public init(width: LengthFieldWidth, endianness: Endianness = .big, includesLengthField: Bool = false) {
        self.width = width
        self.endianness = endianness
        self.includesLengthField = includesLengthField
    }

    public func encode(_ message: ByteBuffer, into buffer: inout ByteBuffer) throws {
        let length = UInt64(message.readableBytes + (self.includesLengthField ? self.width.rawValue : 0))
        guard length <= self.width.maximum else {
            throw FramingError(
                .unencodable,
                "a \(message.readableBytes)-byte message does not fit a \(self.width.rawValue)-byte length field")
        }
        buffer.reserveCapacity(minimumWritableBytes: self.width.rawValue + message.readableBytes)
        switch self.width {
        case .one: buffer.writeInteger(UInt8(length), endianness: self.endianness)
        case .two: buffer.writeInteger(UInt16(length), endianness: self.endianness)
        case .four: buffer.writeInteger(UInt32(length), endianness: self.endianness)
        case .eight: buffer.writeInteger(length, endianness: self.endianness)
        }
        buffer.writeImmutableBuffer(message)
    }
}
