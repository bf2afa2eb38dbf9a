import Codecs
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
    private var position = 0

    /// The first line of `bytes`, or nil when its end has not arrived within `limit` bytes.
    init?(_ bytes: UnsafeRawBufferPointer, limit: Int) {
        guard let newline = UnsafeRawBufferPointer(rebasing: bytes.prefix(limit)).firstIndex(of: UInt8(ascii: "\n")) else {
            return nil
        }
        let end = newline > 0 && bytes[newline - 1] == UInt8(ascii: "\r") ? newline - 1 : newline
        self.bytes = bytes
        self.line = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        self.length = newline + 1
    }

    /// The next token, or nil at the end of the line.
    mutating func next() -> UnsafeRawBufferPointer? {
        let end = self.line.count
        while self.position < end, self.line[self.position] == UInt8(ascii: " ") { self.position += 1 }
        guard self.position < end else { return nil }
        let start = self.position
        while self.position < end, self.line[self.position] != UInt8(ascii: " ") { self.position += 1 }
        return UnsafeRawBufferPointer(rebasing: self.line[start..<self.position])
    }
}

extension UnsafeRawBufferPointer {
    /// Whether these bytes spell `word` (ASCII).
    func spells(_ word: StaticString) -> Bool {
        guard self.count == word.utf8CodeUnitCount else { return false }
        guard let bytes = self.baseAddress else { return true }  // both empty
        return memcmp(bytes, word.utf8Start, self.count) == 0
    }

    /// A text key as memcached takes it: 1 to 250 bytes, no space or control byte.
    var isTextKey: Bool {
        guard self.count >= 1, self.count <= 250 else { return false }
        return !self.contains { $0 <= 0x20 || $0 == 0x7f }
    }

    /// A strict unsigned decimal; nil on anything else or on overflow.
    var decimal: UInt64? { UInt64(memcacheDecimal: self) }

    /// A strict signed decimal (a leading `-` allowed).
    var signedDecimal: Int? {
        if self.first == UInt8(ascii: "-") {
            guard let magnitude = UnsafeRawBufferPointer(rebasing: self.dropFirst()).decimal, magnitude <= UInt64(Int.max) else { return nil }
            return -Int(magnitude)
        }
        guard let value = self.decimal, value <= UInt64(Int.max) else { return nil }
        return Int(value)
    }
}
