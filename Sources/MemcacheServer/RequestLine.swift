@_spi(MemcacheWire) import Codecs
import Glibc

/// One request line read in place: where it ends, and its space-separated tokens as ranges
/// of the request's bytes. Nothing is copied or allocated.
struct RequestLine {
    /// The request's bytes, from the start of this line on.
    let bytes: UnsafeRawBufferPointer
    /// The line without its `\r\n` (or bare `\n`).
    let line: UnsafeRawBufferPointer
    /// Bytes up to and including the `\n`.
    let length: Int
    private var tokens: MemcacheTokens<UnsafeRawBufferPointer>

    /// The first line of `bytes`, or nil when its end has not arrived within `limit` bytes.
    init?(_ bytes: UnsafeRawBufferPointer, limit: Int) {
        guard let newline = UnsafeRawBufferPointer(rebasing: bytes.prefix(limit)).firstIndex(of: UInt8(ascii: "\n"))
        else {
            return nil
        }
        let end = newline > 0 && bytes[newline - 1] == UInt8(ascii: "\r") ? newline - 1 : newline
        self.bytes = bytes
        self.line = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        self.length = newline + 1
        self.tokens = MemcacheTokens(self.line)
    }

    /// The next token, or nil at the end of the line.
    @inline(__always)
    mutating func next() -> UnsafeRawBufferPointer? {
        self.tokens.next().map { UnsafeRawBufferPointer(rebasing: $0) }
    }
}

extension UnsafeRawBufferPointer {
    /// Whether these bytes spell `word` (ASCII).
    func spells(_ word: StaticString) -> Bool {
        guard self.count == word.utf8CodeUnitCount else { return false }
        // SAFETY: both hold `self.count` bytes (the guard above); memcmp reads no more.
        guard let bytes = self.baseAddress else { return true } // both empty
        return memcmp(bytes, word.utf8Start, self.count) == 0
    }

    /// A text key as memcached takes it: 1 to 250 bytes, no space or control byte.
    var isTextKey: Bool { MemcacheSyntax.isTextKey(self) }

    /// A strict unsigned decimal; nil on anything else or on overflow.
    var decimal: UInt64? { MemcacheSyntax.unsigned(self) }

    /// A strict signed decimal (a leading `-` allowed).
    var signedDecimal: Int? { MemcacheSyntax.signed(self) }
}
