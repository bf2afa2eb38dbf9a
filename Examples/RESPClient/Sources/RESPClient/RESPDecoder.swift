public import Channels
public import Codecs

/// Reads RESP2 replies, one whole value at a time (nested arrays included).
///
/// Thread-safe (a value). Bounded: a bulk string over `maximumBulkLength`, a line (simple
/// string, error, integer, length) over 64 KiB without its end, an array of more than
/// `maximumArrayCount` elements or nested deeper than 32 is a `RESPError.protocolViolation`,
/// never unbounded buffering. An incomplete value returns nil and consumes nothing; the next
/// call parses it again from its start (a reply's header is a few bytes, and a large bulk
/// string is skipped by its length, so this costs little).
public struct RESPDecoder: ByteToMessageDecoder {
    public let maximumBulkLength: Int
    public let maximumArrayCount: Int
    static let maximumLineLength = 64 * 1024
    static let maximumDepth = 32

    public init(maximumBulkLength: Int = 64 << 20, maximumArrayCount: Int = 1 << 20) {
        self.maximumBulkLength = maximumBulkLength
        self.maximumArrayCount = maximumArrayCount
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        var index = buffer.readerIndex
        guard let value = try self.parse(buffer, at: &index, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: index)
        return value
    }

    /// The value starting at `index`, moving `index` past it; nil when it is not all there.
    private func parse(_ buffer: ByteBuffer, at index: inout Int, depth: Int) throws -> RESPValue? {
        guard let type = buffer.getByte(at: index) else { return nil }
        var cursor = index + 1
        guard let line = try Self.line(buffer, at: &cursor) else { return nil }
        let value: RESPValue
        switch type {
        case UInt8(ascii: "+"):
            value = .simpleString(line)
        case UInt8(ascii: "-"):
            value = .error(line)
        case UInt8(ascii: ":"):
            value = .integer(try Self.integer(line))
        case UInt8(ascii: "$"):
            let length = try Self.integer(line)
            if length == -1 {
                value = .bulkString(nil)
            } else {
                guard length >= 0, length <= self.maximumBulkLength else {
                    throw RESPError(
                        .protocolViolation,
                        "a bulk string of \(length) bytes (the maximum is \(self.maximumBulkLength))")
                }
                let size = Int(length)
                guard buffer.writerIndex - cursor >= size + 2 else { return nil }
                guard buffer.getByte(at: cursor + size) == UInt8(ascii: "\r"),
                    buffer.getByte(at: cursor + size + 1) == UInt8(ascii: "\n")
                else {
                    throw RESPError(.protocolViolation, "a bulk string does not end with CRLF")
                }
                value = .bulkString(buffer.getSlice(at: cursor, length: size))
                cursor += size + 2
            }
        case UInt8(ascii: "*"):
            let count = try Self.integer(line)
            if count == -1 {
                value = .array(nil)
            } else {
                guard count >= 0, count <= self.maximumArrayCount else {
                    throw RESPError(
                        .protocolViolation, "an array of \(count) elements (the maximum is \(self.maximumArrayCount))")
                }
                guard depth < Self.maximumDepth else {
                    throw RESPError(.protocolViolation, "arrays nested deeper than \(Self.maximumDepth)")
                }
                var elements: [RESPValue] = []
                elements.reserveCapacity(Int(min(count, 1024)))
                for _ in 0..<count {
                    guard let element = try self.parse(buffer, at: &cursor, depth: depth + 1) else { return nil }
                    elements.append(element)
                }
                value = .array(elements)
            }
        default:
            throw RESPError(.protocolViolation, "a reply starts with byte \(type), not + - : $ *")
        }
        index = cursor
        return value
    }

    /// The bytes from `index` to the next CRLF (moving `index` past it); nil when it has not
    /// arrived yet.
    private static func line(_ buffer: ByteBuffer, at index: inout Int) throws -> ByteBuffer? {
        guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n"), from: index) else {
            if buffer.writerIndex - index > Self.maximumLineLength {
                throw RESPError(.protocolViolation, "no line end within \(Self.maximumLineLength) bytes")
            }
            return nil
        }
        guard newline > index, buffer.getByte(at: newline - 1) == UInt8(ascii: "\r") else {
            throw RESPError(.protocolViolation, "a line ends without CR")
        }
        let line = buffer.getSlice(at: index, length: newline - 1 - index)
        index = newline + 1
        return line
    }

    /// A signed decimal, strictly (digits with an optional leading minus, no overflow).
    private static func integer(_ line: ByteBuffer) throws -> Int64 {
        try line.withUnsafeReadableBytes { bytes in
            var negative = false
            var digits = bytes[...]
            if digits.first == UInt8(ascii: "-") {
                negative = true
                digits = digits.dropFirst()
            }
            guard !digits.isEmpty, digits.count <= 19 else { throw RESPError(.protocolViolation, "not an integer") }
            var value: Int64 = 0
            for byte in digits {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                    throw RESPError(.protocolViolation, "not an integer")
                }
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { throw RESPError(.protocolViolation, "an integer out of range") }
                value = sum
            }
            return negative ? -value : value
        }
    }
}
