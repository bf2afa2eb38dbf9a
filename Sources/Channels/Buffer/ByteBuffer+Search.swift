/// Searching the readable bytes from any position, in buffer indices (so a decoder can keep
/// how far it scanned and go on from there when more bytes arrive).
extension ByteBuffer {
    /// The index of the first `byte` at or after `index` (and at or after the reader index),
    /// before the writer index; nil when there is none.
    ///
    /// ```swift
    /// // A line decoder that does not rescan what it already searched:
    /// if let newline = buffer.firstIndex(of: UInt8(ascii: "\n"), from: self.scanned) { ... }
    /// else { self.scanned = buffer.writerIndex }
    /// ```
    public func firstIndex(of byte: UInt8, from index: Int) -> Int? {
        let start = max(index, self.readerIndex)
        guard start < self.writerIndex else { return nil }
        return self.withUnsafeReadableBytes { bytes in
            let skip = start - self.readerIndex
            return ByteScan.firstOffset(of: byte, in: UnsafeRawBufferPointer(rebasing: bytes[skip...])).map {
                start + $0
            }
        }
    }

    /// The index of the first occurrence of `needle` (at least one byte) that starts at or
    /// after `index` and ends before the writer index; nil when there is none.
    ///
    /// ```swift
    /// if let end = buffer.firstIndex(of: [UInt8]("\r\n".utf8), from: buffer.readerIndex) { ... }
    /// ```
    public func firstIndex(of needle: [UInt8], from index: Int) -> Int? {
        guard let first = needle.first else { return nil }
        var candidate = max(index, self.readerIndex)
        while let found = self.firstIndex(of: first, from: candidate) {
            guard found + needle.count <= self.writerIndex else { return nil }
            let matches = self.withUnsafeReadableBytes { bytes in
                let offset = found - self.readerIndex
                return needle.indices.allSatisfy { bytes[offset + $0] == needle[$0] }
            }
            if matches { return found }
            candidate = found + 1
        }
        return nil
    }
}
