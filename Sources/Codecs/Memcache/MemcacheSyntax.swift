/// The byte-level rules of the memcache text and meta protocols, written once: which bytes a
/// key or a token may hold, strict decimal numbers, and the space-separated tokens of a line.
///
/// Thread-safe (pure functions on bytes). Used by the client's reply decoder, the full request
/// decoder, the server's in-place fast path and the key and flag types. Everything is
/// `@inlinable` and generic over the byte collection, so that each caller — a `ByteBufferView`,
/// an `UnsafeRawBufferPointer` over the read buffer, an array — gets it specialized, with no
/// copy and no allocation.
///
/// SPI, not `package`: with `package` access the server's module called the unspecialized
/// generic copies (measured: the server's 100-key multi-get at 0.50× and `mg` at 0.87× of the
/// build before, `MemcacheTokens.next` and `Slice` witnesses in the profile); as
/// `@_spi(MemcacheWire) public` they inline and specialize as before. Not API: the SPI name
/// says so, and nothing outside this package should import it.

@_spi(MemcacheWire) public enum MemcacheSyntax {
    /// The longest key memcached accepts, in bytes.
    public static let maximumKeyLength = 250

    /// Whether `byte` may appear in a key or a meta flag's token: anything but a space, a
    /// control byte or DEL. (A space would end the token; a control byte could end the line
    /// and inject a command.)
    @inlinable
    public static func isTokenByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte != 0x7f
    }

    /// The offset of the first byte of `bytes` that may not appear in a key or token, if any.
    @inlinable
    public static func firstForbiddenByte<Bytes: Collection<UInt8>>(in bytes: Bytes) -> Int? {
        var offset = 0
        for byte in bytes {
            if !self.isTokenByte(byte) { return offset }
            offset += 1
        }
        return nil
    }

    /// Whether `bytes` is a text key memcached takes: 1 to 250 bytes, each a token byte.
    @inlinable
    public static func isTextKey<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        let count = bytes.count
        return count >= 1 && count <= self.maximumKeyLength && self.firstForbiddenByte(in: bytes) == nil
    }

    /// A strict unsigned decimal as memcache writes numbers: 1 to 20 digits, nothing else; nil
    /// on anything else or on overflow.
    @inlinable
    public static func unsigned<Bytes: Collection<UInt8>>(_ token: Bytes) -> UInt64? {
        guard !token.isEmpty, token.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in token {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = shifted.addingReportingOverflow(UInt64(byte &- UInt8(ascii: "0")))
            if overflowA || overflowB { return nil }
            value = sum
        }
        return value
    }

    /// A strict signed decimal: an optional leading `-`, then an unsigned decimal that fits
    /// an `Int`; nil on anything else.
    @inlinable
    public static func signed<Bytes: Collection<UInt8>>(_ token: Bytes) -> Int? {
        if token.first == UInt8(ascii: "-") {
            guard let magnitude = self.unsigned(token.dropFirst()), magnitude <= UInt64(Int.max) else { return nil }
            return -Int(magnitude)
        }
        guard let value = self.unsigned(token), value <= UInt64(Int.max) else { return nil }
        return Int(value)
    }
}

/// The space-separated tokens of one line (without its line end), read in place: each token is
/// a slice of `bytes`. Runs of spaces separate like one; leading and trailing spaces are
/// skipped.
///
/// Thread-safe (a value).
///
/// ```swift
/// var tokens = MemcacheTokens(line.readableBytesView)
/// while let token = tokens.next() { ... }
/// ```
@_spi(MemcacheWire) public struct MemcacheTokens<Bytes: RandomAccessCollection<UInt8>> where Bytes.Index == Int {
    @usableFromInline let bytes: Bytes
    /// Where the next token's search starts: everything before it has been read.
    public var position: Int

    @inlinable
    public init(_ bytes: Bytes) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    /// The next token, or nil at the end of the line.
    @inlinable
    public mutating func next() -> Bytes.SubSequence? {
        let end = self.bytes.endIndex
        while self.position < end, self.bytes[self.position] == UInt8(ascii: " ") { self.position += 1 }
        guard self.position < end else { return nil }
        let start = self.position
        while self.position < end, self.bytes[self.position] != UInt8(ascii: " ") { self.position += 1 }
        return self.bytes[start..<self.position]
    }

    /// The remaining tokens, in order.
    @inlinable
    public mutating func all() -> [Bytes.SubSequence] {
        var tokens: [Bytes.SubSequence] = []
        while let token = self.next() { tokens.append(token) }
        return tokens
    }
}
