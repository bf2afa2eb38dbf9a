extension ByteBuffer {
    /// Appends the UTF-8 bytes of `string`. Returns how many bytes were written.
    ///
    /// Inlinable, and through the string's own storage when it has one (every native string,
    /// small ones included): out of line, with a mutable copy for `withUTF8`, it cost a retain
    /// and a release per call (the RESP example's encoder, counted with uprobes).
    @inlinable
    @discardableResult
    public mutating func writeString(_ string: String) -> Int {
        if let written = string.utf8.withContiguousStorageIfAvailable({ self.writeBytes(UnsafeRawBufferPointer($0)) }) {
            return written
        }
        var string = string
        return string.withUTF8 { self.writeBytes(UnsafeRawBufferPointer($0)) }
    }

    /// Reads `length` bytes as UTF-8 (invalid sequences are repaired); nil if too few.
    public mutating func readString(length: Int) -> String? {
        guard let string = self.getString(at: self.readerIndex, length: length) else { return nil }
        self.moveReaderIndex(forwardBy: length)
        return string
    }

    /// The bytes at `index..<index+length` as UTF-8, or nil.
    public func getString(at index: Int, length: Int) -> String? {
        guard self.isReadable(index: index, length: length) else { return nil }
        return String(
            // SAFETY: `isReadable` above: the range lies inside the readable bytes.
            decoding: UnsafeRawBufferPointer(start: self.storage.bytes + self.base + index, count: length),
            as: UTF8.self)
    }

    /// Every readable byte as a string (consumed).
    public mutating func readString() -> String {
        self.readString(length: self.readableBytes) ?? ""
    }
}

extension String {
    /// The readable bytes of `buffer` as UTF-8 (invalid sequences are repaired), leaving the
    /// buffer as it is — SwiftNIO's spelling, for code moving over.
    ///
    /// ```swift
    /// let reply = try await pool.get("greeting")
    /// print(reply.map { String(buffer: $0) } ?? "miss")
    /// ```
    public init(buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { String(decoding: $0, as: UTF8.self) }
    }
}
