/// Byte order for integers in a `ByteBuffer`.
public enum Endianness: Sendable {
    case big
    case little
}

extension ByteBuffer {
    /// Appends an integer. Network order (big endian) unless told otherwise.
    @inlinable
    @discardableResult
    public mutating func writeInteger<T: FixedWidthInteger>(_ value: T, endianness: Endianness = .big) -> Int {
        let size = MemoryLayout<T>.size
        self.ensureUnique(minimumWritable: size)
        let ordered = endianness == .big ? value.bigEndian : value.littleEndian
        // SAFETY: `ensureUnique` above made `size` bytes at the writer index writable, in storage only this
        // buffer holds; `storeBytes` needs no alignment.
        (self.storage.bytes + self.base + self.writerIndex).storeBytes(of: ordered, as: T.self)
        self.moveWriterIndex(forwardBy: size)
        return size
    }

    /// Reads an integer; nil (nothing consumed) when too few bytes are readable.
    @inlinable
    public mutating func readInteger<T: FixedWidthInteger>(endianness: Endianness = .big, as type: T.Type = T.self)
        -> T?
    {
        guard let value = self.getInteger(at: self.readerIndex, endianness: endianness, as: T.self) else { return nil }
        self.moveReaderIndex(forwardBy: MemoryLayout<T>.size)
        return value
    }

    /// The integer at `index`, or nil when those bytes are not readable.
    @inlinable
    public func getInteger<T: FixedWidthInteger>(at index: Int, endianness: Endianness = .big, as type: T.Type = T.self)
        -> T?
    {
        guard self.isReadable(index: index, length: MemoryLayout<T>.size) else { return nil }
        // SAFETY: `isReadable` above: all `size` bytes are readable; `loadUnaligned` needs no alignment.
        let raw = self.storage.bytes.loadUnaligned(fromByteOffset: self.base + index, as: T.self)
        return endianness == .big ? T(bigEndian: raw) : T(littleEndian: raw)
    }

    /// Overwrites an integer at `index` (which must be at most the writer index).
    @discardableResult
    public mutating func setInteger<T: FixedWidthInteger>(_ value: T, at index: Int, endianness: Endianness = .big)
        -> Int
    {
        let ordered = endianness == .big ? value.bigEndian : value.littleEndian
        return withUnsafeBytes(of: ordered) { self.setBytes($0, at: index) }
    }
}
