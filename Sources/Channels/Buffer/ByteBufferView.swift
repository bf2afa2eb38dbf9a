/// The readable bytes of a `ByteBuffer` as a collection, for scanning without copying.
///
/// Indices are the buffer's own indices, so `firstIndex(of:)` answers in buffer positions.
///
/// ```swift
/// if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) { ... }
/// ```
public struct ByteBufferView: RandomAccessCollection, Sendable {
    public typealias Index = Int
    public typealias Element = UInt8

    private let buffer: ByteBuffer
    public let startIndex: Int
    public let endIndex: Int

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.startIndex = buffer.readerIndex
        self.endIndex = buffer.writerIndex
    }

    public subscript(position: Int) -> UInt8 {
        // SAFETY: caller's index
        precondition(position >= self.startIndex && position < self.endIndex, "index out of range")
        return self.buffer.storage.bytes.load(fromByteOffset: self.buffer.base + position, as: UInt8.self)
    }

    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        try self.buffer.withUnsafeReadableBytes { try body($0.bindMemory(to: UInt8.self)) }
    }

    /// The first position of `byte` (a `memchr` scan).
    public func firstIndex(of byte: UInt8) -> Int? {
        self.buffer.firstIndex(of: byte, from: self.startIndex)
    }
}

extension ByteBuffer {
    /// The readable bytes as a collection indexed like the buffer.
    public var readableBytesView: ByteBufferView { ByteBufferView(self) }
}
