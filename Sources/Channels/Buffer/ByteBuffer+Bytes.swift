extension ByteBuffer {
    /// Appends `bytes`. Returns how many bytes were written.
    @inlinable
    @discardableResult
    public mutating func writeBytes(_ bytes: some Sequence<UInt8>) -> Int {
        if let written = bytes.withContiguousStorageIfAvailable({ self.writeBytes(UnsafeRawBufferPointer($0)) }) {
            return written
        }
        let array = Array(bytes)
        return array.withUnsafeBytes { self.writeBytes($0) }
    }

    /// Appends raw bytes. Returns how many bytes were written.
    @inlinable
    @discardableResult
    public mutating func writeBytes(_ bytes: UnsafeRawBufferPointer) -> Int {
        let count = bytes.count
        guard count > 0 else { return 0 }
        self.ensureUnique(minimumWritable: count)
        // SAFETY: count > 0, so baseAddress exists
        (self.storage.bytes + self.base + self.writerIndex).copyMemory(from: bytes.baseAddress!, byteCount: count)
        self.moveWriterIndex(forwardBy: count)
        return count
    }

    /// Appends the readable bytes of `other` and consumes them from it.
    @discardableResult
    public mutating func writeBuffer(_ other: inout ByteBuffer) -> Int {
        let written = self.writeImmutableBuffer(other)
        other.moveReaderIndex(forwardBy: written)
        return written
    }

    /// Appends the readable bytes of `other`, leaving `other` as it is.
    @discardableResult
    public mutating func writeImmutableBuffer(_ other: ByteBuffer) -> Int {
        other.withUnsafeReadableBytes { self.writeBytes($0) }
    }

    /// Overwrites bytes at `index` (relative to this buffer), growing the writer index if the
    /// bytes reach past it. Returns how many bytes were written.
    @discardableResult
    public mutating func setBytes(_ bytes: some Sequence<UInt8>, at index: Int) -> Int {
        let array = Array(bytes)
        // SAFETY: caller's index arithmetic
        precondition(index >= 0 && index <= self.writerIndex, "index \(index) outside 0...\(self.writerIndex)")
        let end = index + array.count
        self.ensureUnique(minimumWritable: max(0, end - self.writerIndex))
        array.withUnsafeBytes { source in
            if let start = source.baseAddress {
                (self.storage.bytes + self.base + index).copyMemory(from: start, byteCount: source.count)
            }
        }
        if end > self.writerIndex { self.moveWriterIndex(to: end) }
        return array.count
    }

    /// Reads `length` bytes into an array; nil (and nothing consumed) if fewer are readable.
    public mutating func readBytes(length: Int) -> [UInt8]? {
        guard let bytes = self.getBytes(at: self.readerIndex, length: length) else { return nil }
        self.moveReaderIndex(forwardBy: length)
        return bytes
    }

    /// The bytes at `index..<index+length`, or nil when that range is not readable.
    public func getBytes(at index: Int, length: Int) -> [UInt8]? {
        guard self.isReadable(index: index, length: length) else { return nil }
        // SAFETY: `isReadable` above: the range lies inside this buffer's readable bytes, in storage it holds.
        return Array(UnsafeRawBufferPointer(start: self.storage.bytes + self.base + index, count: length))
    }

    /// Reads `length` bytes as a buffer that shares storage (no copy); nil if too few.
    public mutating func readSlice(length: Int) -> ByteBuffer? {
        guard let slice = self.getSlice(at: self.readerIndex, length: length) else { return nil }
        self.moveReaderIndex(forwardBy: length)
        return slice
    }

    /// The bytes at `index..<index+length` as a buffer sharing storage, or nil.
    public func getSlice(at index: Int, length: Int) -> ByteBuffer? {
        guard self.isReadable(index: index, length: length) else { return nil }
        return ByteBuffer(
            storage: self.storage, base: self.base + index, limit: length, readerIndex: 0, writerIndex: length)
    }

    /// Every readable byte as a slice, consuming them.
    public mutating func readSlice() -> ByteBuffer {
        self.readSlice(length: self.readableBytes) ?? ByteBuffer()
    }

    /// The byte at `index`, or nil when it is not readable.
    @inlinable
    public func getByte(at index: Int) -> UInt8? {
        guard index >= self.readerIndex, index < self.writerIndex else { return nil }
        // SAFETY: the guard above keeps `index` inside the readable bytes.
        return self.storage.bytes.load(fromByteOffset: self.base + index, as: UInt8.self)
    }

    @inlinable
    func isReadable(index: Int, length: Int) -> Bool {
        length >= 0 && index >= self.readerIndex && index <= self.writerIndex - length
    }
}

extension ByteBuffer: Equatable, Hashable {
    /// Two buffers are equal when their readable bytes are.
    public static func == (lhs: ByteBuffer, rhs: ByteBuffer) -> Bool {
        guard lhs.readableBytes == rhs.readableBytes else { return false }
        return lhs.withUnsafeReadableBytes { left in
            rhs.withUnsafeReadableBytes { right in Self.bytesEqual(left, right) }
        }
    }

    /// Compares eight bytes at a time (a byte-wise loop is several times slower).
    private static func bytesEqual(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> Bool {
        let count = left.count
        var index = 0
        while index + 8 <= count {
            // SAFETY: `index + 8 <= count`, and `right` is as long as `left` (the caller compares
            // lengths first).
            if left.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                != right.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            {
                return false
            }
            index += 8
        }
        while index < count {
            if left[index] != right[index] { return false }
            index += 1
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        self.withUnsafeReadableBytes { hasher.combine(bytes: $0) }
    }
}

extension ByteBuffer: CustomStringConvertible {
    public var description: String {
        let shown = self.withUnsafeReadableBytes { bytes in
            bytes.prefix(64).map { byte in
                (0x20..<0x7f).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
            }.joined()
        }
        let more = self.readableBytes > 64 ? "…" : ""
        return "ByteBuffer(\(self.readableBytes) bytes: \"\(shown)\(more)\")"
    }
}

extension Array where Element == UInt8 {
    /// The readable bytes of `buffer`, copied, leaving the buffer as it is.
    ///
    /// ```swift
    /// let bytes = [UInt8](buffer: ByteBuffer(string: "hi"))   // [104, 105]
    /// ```
    public init(buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Array($0) }
    }
}
