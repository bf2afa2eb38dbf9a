public import Channels

// ASCII primitives of the memcache protocols: decimal numbers, tokens and CRLF lines,
// written and read in place, with no String round trip.

extension UInt64 {
    /// A strict unsigned decimal as memcache writes numbers (digits only, at most 20); nil on
    /// anything else or on overflow.
    @inlinable
    public init?(memcacheDecimal token: some Collection<UInt8>) {
        guard let value = MemcacheParsing.unsigned(token) else { return nil }
        self = value
    }
}
extension ByteBuffer {
    /// Appends `value` in decimal.
    public mutating func writeDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { space in
            var remaining = value
            var index = space.count
            repeat {
                index -= 1
                space[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            } while remaining > 0
            self.writeBytes(UnsafeRawBufferPointer(rebasing: space[index...]))
        }
    }

    /// Appends `value` in decimal, with a minus sign when negative.
    public mutating func writeDecimal(_ value: Int) {
        if value < 0 { self.writeInteger(UInt8(ascii: "-")) }
        self.writeDecimal(UInt64(value.magnitude))
    }

    /// Appends one item of a text `get` reply: `VALUE <key> <flags> <bytes> [<cas>]\r\n`, the
    /// value, `\r\n` (a server writes these, then `END\r\n`).
    public mutating func writeMemcacheValue(key: [UInt8], flags: UInt32, cas: UInt64?, value: ByteBuffer) {
        self.reserveCapacity(minimumWritableBytes: key.count + value.readableBytes + 48)
        self.writeString("VALUE ")
        self.writeBytes(key)
        self.writeSpace()
        self.writeDecimal(UInt64(flags))
        self.writeSpace()
        self.writeDecimal(UInt64(value.readableBytes))
        if let cas {
            self.writeSpace()
            self.writeDecimal(cas)
        }
        self.writeCRLF()
        self.writeImmutableBuffer(value)
        self.writeCRLF()
    }

    /// Appends one space.
    public mutating func writeSpace() { self.writeInteger(UInt8(ascii: " ")) }
    /// Appends `\r\n`.
    public mutating func writeCRLF() { self.writeInteger(UInt16(0x0d0a)) }
}

/// Walks the space-separated tokens of a line without allocating: each token is a slice
/// of a contiguous view of the line.
struct TokenCursor {
    private let bytes: ByteBufferView
    private var position: Int

    init(_ line: ByteBuffer) {
        self.bytes = line.readableBytesView
        self.position = self.bytes.startIndex
    }

    /// The next token, or nil at the end of the line.
    mutating func next() -> Slice<ByteBufferView>? {
        let end = self.bytes.endIndex
        while self.position < end, self.bytes[self.position] == UInt8(ascii: " ") { self.position += 1 }
        guard self.position < end else { return nil }
        let start = self.position
        while self.position < end, self.bytes[self.position] != UInt8(ascii: " ") { self.position += 1 }
        return self.bytes[start..<self.position]
    }

    /// What is left of the line after the tokens read so far, as a buffer slice.
    func rest(of line: ByteBuffer) -> ByteBuffer {
        let offset = self.position - self.bytes.startIndex
        return line.getSlice(at: line.readerIndex + offset, length: line.readableBytes - offset) ?? ByteBuffer()
    }
}

/// Line and token parsing over raw bytes.
@usableFromInline
enum MemcacheParsing {
    /// The position of the `\n` ending the first line, scanning at most `limit` bytes.
    static func lineEnd(in buffer: ByteBuffer, limit: Int) -> Int? {
        let scanLength = min(buffer.readableBytes, limit)
        return buffer.getSlice(at: buffer.readerIndex, length: scanLength)?
            .readableBytesView.firstIndex(of: UInt8(ascii: "\n"))
            .map { buffer.readerIndex + $0 }
    }

    /// Splits a line (without its CRLF) on spaces; empty tokens are dropped.
    static func tokens(_ line: ByteBuffer) -> [ArraySlice<UInt8>] {
        let bytes = line.readableBytesView
        var tokens: [ArraySlice<UInt8>] = []
        let array = Array(bytes)
        var start = 0
        for index in 0...array.count where index == array.count || array[index] == UInt8(ascii: " ") {
            if index > start { tokens.append(array[start..<index]) }
            start = index + 1
        }
        return tokens
    }

    /// A strict unsigned decimal; nil on anything else or on overflow. Inlinable, so that a
    /// server's in-place parser gets it specialized for its raw bytes.
    @inlinable
    static func unsigned<Bytes: Collection<UInt8>>(_ token: Bytes) -> UInt64? {
        guard !token.isEmpty, token.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in token {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = shifted.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflowA || overflowB { return nil }
            value = sum
        }
        return value
    }

    /// A strict signed decimal (a leading `-` allowed).
    static func signed<Bytes: Collection<UInt8>>(_ token: Bytes) -> Int? {
        if token.first == UInt8(ascii: "-") {
            guard let magnitude = self.unsigned(token.dropFirst()), magnitude <= UInt64(Int.max) else { return nil }
            return -Int(magnitude)
        }
        guard let value = self.unsigned(token), value <= UInt64(Int.max) else { return nil }
        return Int(value)
    }

    static func text(_ token: ArraySlice<UInt8>) -> String {
        String(decoding: token, as: UTF8.self)
    }

    /// Meta flags from tokens: first byte the letter, the rest its token.
    static func metaFlags(_ tokens: ArraySlice<ArraySlice<UInt8>>) -> [MemcacheMetaFlag] {
        tokens.map { MemcacheMetaFlag(rawLetter: $0.first ?? 0, token: Array($0.dropFirst())) }
    }
}

extension MemcacheMetaFlag {
    /// A flag as read from the wire (the decoder has already split on spaces).
    init(rawLetter: UInt8, token: [UInt8]) {
        self.init(uncheckedLetter: rawLetter, token: token)
    }
}
