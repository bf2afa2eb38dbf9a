public import Channels

// ASCII primitives of the memcache protocols: decimal numbers, tokens and CRLF lines,
// written and read in place, with no String round trip.

extension UInt64 {
    /// A strict unsigned decimal as memcache writes numbers (digits only, at most 20); nil on
    /// anything else or on overflow.
    public init?(memcacheDecimal token: some Collection<UInt8>) {
        guard let value = MemcacheSyntax.unsigned(token) else { return nil }
        self = value
    }
}
extension ByteBuffer {
    /// Appends `value` in decimal.
    public mutating func writeDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0) // 24 bytes: room for 20 digits
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
    /// With its `valueBytes:` twin, the one writer of this line: the server's fast path calls
    /// that one with an item's key and value bytes in place (inlinable, so it is specialized
    /// for them).
    @inlinable
    public mutating func writeMemcacheValue<Key: Collection<UInt8>>(
        key: Key, flags: UInt32, cas: UInt64?, value: ByteBuffer
    ) {
        value.withUnsafeReadableBytes { self.writeMemcacheValue(key: key, flags: flags, cas: cas, valueBytes: $0) }
    }

    /// `writeMemcacheValue(key:flags:cas:value:)` for a value in memory that is not a
    /// `ByteBuffer` of its own (the server's items copy their bytes straight from storage).
    @inlinable
    public mutating func writeMemcacheValue<Key: Collection<UInt8>>(
        key: Key, flags: UInt32, cas: UInt64?, valueBytes: UnsafeRawBufferPointer
    ) {
        let length = valueBytes.count
        self.reserveCapacity(minimumWritableBytes: key.count + length + 48)
        // From a static string: `writeString` retained its argument, once per value written.
        let word: StaticString = "VALUE "
        self.writeBytes(UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
        self.writeBytes(key)
        self.writeSpace()
        self.writeDecimal(UInt64(flags))
        self.writeSpace()
        self.writeDecimal(UInt64(length))
        if let cas {
            self.writeSpace()
            self.writeDecimal(cas)
        }
        self.writeCRLF()
        self.writeBytes(valueBytes)
        self.writeCRLF()
    }

    /// Appends one space.
    public mutating func writeSpace() { self.writeInteger(UInt8(ascii: " ")) }
    /// Appends `\r\n`.
    public mutating func writeCRLF() { self.writeInteger(UInt16(0x0d0a)) }
}

/// The tokens of a reply line, as slices of the line's bytes.
typealias TokenCursor = MemcacheTokens<ByteBufferView>

extension MemcacheTokens where Bytes == ByteBufferView {
    init(_ line: ByteBuffer) {
        self.init(line.readableBytesView)
    }

    /// What is left of the line after the tokens read so far, as a buffer slice.
    func rest(of line: ByteBuffer) -> ByteBuffer {
        let offset = self.position - line.readableBytesView.startIndex
        return line.getSlice(at: line.readerIndex + offset, length: line.readableBytes - offset) ?? ByteBuffer()
    }
}

/// Line and token parsing over raw bytes.
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
        var tokens = MemcacheTokens(Array(line.readableBytesView))
        return tokens.all()
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
