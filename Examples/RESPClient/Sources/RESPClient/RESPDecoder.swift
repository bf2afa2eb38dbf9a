public import Channels
public import Codecs

/// Reads RESP2 replies, one whole value at a time (nested arrays included).
///
/// Thread-safe (a value). Bounded: a bulk string over `maximumBulkLength`, a line (simple
/// string, error, integer, length) over 64 KiB without its end, an array of more than
/// `maximumArrayCount` elements or nested deeper than 32 is a `RESPError.protocolViolation`,
/// never unbounded buffering. An array's elements are taken from the buffer as each one is
/// whole and kept until the array is, so a large array that arrives over many reads is read
/// once (parsing it again from its start on every read made a reply of a million elements
/// cost seconds of its loop); anything else that is not all there yet consumes nothing.
public struct RESPDecoder: ByteToMessageDecoder {
    public let maximumBulkLength: Int
    public let maximumArrayCount: Int
    static let maximumLineLength = 64 * 1024
    static let maximumDepth = 32
    /// The arrays still waiting for elements, the outermost first.
    private var open: [OpenArray] = []

    private struct OpenArray {
        var remaining: Int64
        var elements: [RESPValue]
    }

    /// One element as the buffer holds it: a whole value, or the header of an array whose
    /// elements follow.
    private enum Item {
        case value(RESPValue)
        case array(count: Int64)
    }

    public init(maximumBulkLength: Int = 64 << 20, maximumArrayCount: Int = 1 << 20) {
        self.maximumBulkLength = maximumBulkLength
        self.maximumArrayCount = maximumArrayCount
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        do {
            while let item = try self.item(&buffer) {
                var value: RESPValue
                switch item {
                case .value(let whole):
                    value = whole
                case .array(let count):
                    guard self.open.count < Self.maximumDepth else {
                        throw RESPError(.protocolViolation, "arrays nested deeper than \(Self.maximumDepth)")
                    }
                    guard count > 0 else {
                        value = .array([])
                        break
                    }
                    self.open.append(OpenArray(remaining: count, elements: []))
                    self.open[self.open.count - 1].elements.reserveCapacity(Int(min(count, 1024)))
                    continue
                }
                // The value is the next element of the innermost open array; an array it
                // completes is in turn the next element of the one around it.
                while !self.open.isEmpty {
                    let last = self.open.count - 1
                    self.open[last].elements.append(value)
                    self.open[last].remaining -= 1
                    guard self.open[last].remaining == 0 else { break }
                    value = .array(self.open.removeLast().elements)
                }
                if self.open.isEmpty { return value }
            }
            return nil
        } catch {
            self.open.removeAll()
            throw error
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer) throws -> RESPValue? {
        if let value = try self.decode(buffer: &buffer) { return value }
        guard self.open.isEmpty else {
            self.open.removeAll()
            throw RESPError(.protocolViolation, "the stream ended inside an array")
        }
        return nil
    }

    /// The item at the buffer's reader index, consumed; nil (consuming nothing) when it is
    /// not all there.
    private func item(_ buffer: inout ByteBuffer) throws -> Item? {
        let start = buffer.readerIndex
        guard let type = buffer.getByte(at: start) else { return nil }
        var cursor = start + 1
        guard let line = try Self.line(buffer, at: &cursor) else { return nil }
        let item: Item
        switch type {
        case UInt8(ascii: "+"):
            item = .value(.simpleString(line))
        case UInt8(ascii: "-"):
            item = .value(.error(line))
        case UInt8(ascii: ":"):
            item = .value(.integer(try Self.integer(line)))
        case UInt8(ascii: "$"):
            let length = try Self.integer(line)
            if length == -1 {
                item = .value(.bulkString(nil))
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
                item = .value(.bulkString(buffer.getSlice(at: cursor, length: size)))
                cursor += size + 2
            }
        case UInt8(ascii: "*"):
            let count = try Self.integer(line)
            if count == -1 {
                item = .value(.array(nil))
            } else {
                guard count >= 0, count <= self.maximumArrayCount else {
                    throw RESPError(
                        .protocolViolation, "an array of \(count) elements (the maximum is \(self.maximumArrayCount))")
                }
                item = .array(count: count)
            }
        default:
            throw RESPError(.protocolViolation, "a reply starts with byte \(type), not + - : $ *")
        }
        buffer.moveReaderIndex(to: cursor)
        return item
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
