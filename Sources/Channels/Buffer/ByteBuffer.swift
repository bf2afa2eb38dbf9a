/// A growable buffer of bytes with a reader and a writer index.
///
/// Thread-safe as a value: copies share storage until one of them writes (copy-on-write), so
/// passing a buffer around never copies bytes. Slices share storage with their parent.
///
/// ```
///  0      readerIndex      writerIndex      capacity
///  |  read  |   readable bytes  |  writable bytes  |
/// ```
///
/// ```swift
/// var buffer = ByteBuffer()
/// buffer.writeString("get ")
/// buffer.writeInteger(UInt16(7))
/// let word = buffer.readString(length: 4)   // "get "
/// let number = buffer.readInteger(as: UInt16.self)  // 7
/// ```
public struct ByteBuffer: @unchecked Sendable { // SAFETY: `storage` is copy-on-write, below
    @usableFromInline var storage: Storage
    /// Where this buffer's index 0 sits in `storage`.
    @usableFromInline var base: Int
    /// How many bytes of `storage` from `base` this buffer may use.
    @usableFromInline var limit: Int
    public private(set) var readerIndex: Int
    public private(set) var writerIndex: Int

    /// An empty buffer; the first write allocates.
    public init() {
        self.init(capacity: 0)
    }

    /// An empty buffer with room for `capacity` bytes.
    public init(capacity: Int) {
        // Empty buffers share one storage, so making one (a placeholder, a reset) is free.
        self.storage = capacity > 0 ? Storage.allocate(capacity: capacity) : Storage.empty
        self.base = 0
        self.limit = self.storage.byteCount
        self.readerIndex = 0
        self.writerIndex = 0
    }

    /// A buffer holding `bytes`.
    public init(bytes: some Sequence<UInt8>) {
        self.init(capacity: bytes.underestimatedCount)
        self.writeBytes(bytes)
    }

    /// A buffer holding the UTF-8 bytes of `string`.
    public init(string: String) {
        self.init(capacity: string.utf8.count)
        self.writeString(string)
    }

    @usableFromInline
    init(storage: Storage, base: Int, limit: Int, readerIndex: Int, writerIndex: Int) {
        self.storage = storage
        self.base = base
        self.limit = limit
        self.readerIndex = readerIndex
        self.writerIndex = writerIndex
    }

    /// Bytes between the reader and the writer index.
    @inlinable public var readableBytes: Int { self.writerIndex - self.readerIndex }
    /// Bytes that can be written before the buffer must grow.
    @inlinable public var writableBytes: Int { self.limit - self.writerIndex }
    /// Total room in this buffer.
    @inlinable public var capacity: Int { self.limit }

    // MARK: Index movement

    /// Moves the reader index; it must stay within `0...writerIndex`.
    public mutating func moveReaderIndex(forwardBy offset: Int) {
        self.moveReaderIndex(to: self.readerIndex + offset)
    }

    public mutating func moveReaderIndex(to index: Int) {
        // SAFETY: caller's index arithmetic
        precondition(index >= 0 && index <= self.writerIndex, "reader index \(index) outside 0...\(self.writerIndex)")
        self.readerIndex = index
    }

    /// Moves the writer index; it must stay within `readerIndex...capacity`. Use after writing
    /// into `withUnsafeMutableWritableBytes`.
    public mutating func moveWriterIndex(forwardBy offset: Int) {
        self.moveWriterIndex(to: self.writerIndex + offset)
    }

    public mutating func moveWriterIndex(to index: Int) {
        precondition(
            index >= self.readerIndex && index <= self.limit,
            "writer index \(index) outside \(self.readerIndex)...\(self.limit)") // SAFETY: caller's index arithmetic
        self.writerIndex = index
    }

    /// Forgets all bytes. Keeps the storage when no other buffer shares it.
    public mutating func clear() {
        if !isKnownUniquelyReferenced(&self.storage) {
            self.storage = Storage.allocate(capacity: self.limit)
            self.base = 0
            self.limit = self.storage.byteCount
        }
        self.readerIndex = 0
        self.writerIndex = 0
    }

    /// Moves the readable bytes to the front, reclaiming the space already read.
    public mutating func discardReadBytes() {
        guard self.readerIndex > 0 else { return }
        self.ensureUnique(minimumWritable: 0)
        let count = self.readableBytes
        // SAFETY: `ensureUnique` made the storage this buffer's alone; both ranges lie in its span, and
        // `copyMemory` is a `memmove` (they may overlap).
        let start = self.storage.bytes + self.base
        start.copyMemory(from: start + self.readerIndex, byteCount: count)
        self.readerIndex = 0
        self.writerIndex = count
    }

    /// Makes room for `minimumWritableBytes` more bytes.
    public mutating func reserveCapacity(minimumWritableBytes: Int) {
        self.ensureUnique(minimumWritable: minimumWritableBytes)
    }

    /// Makes this buffer the only owner of its storage with at least `minimumWritable`
    /// writable bytes, copying or growing as needed.
    @inlinable
    mutating func ensureUnique(minimumWritable: Int) {
        if isKnownUniquelyReferenced(&self.storage), self.writableBytes >= minimumWritable {
            return
        }
        self.reallocate(minimumWritable: minimumWritable)
    }

    @usableFromInline
    mutating func reallocate(minimumWritable: Int) {
        let needed = self.writerIndex + minimumWritable
        var newCapacity = max(self.limit, 16)
        while newCapacity < needed { newCapacity *= 2 }
        let grown = Storage.allocate(capacity: newCapacity)
        // Only the bytes from the reader index on are kept; indices shift to the front.
        // SAFETY: `grown` holds at least writerIndex + minimumWritable >= readableBytes bytes; the source is
        // this buffer's readable span.
        grown.bytes.copyMemory(from: self.storage.bytes + self.base + self.readerIndex, byteCount: self.readableBytes)
        self.writerIndex -= self.readerIndex
        self.readerIndex = 0
        self.storage = grown
        self.base = 0
        self.limit = grown.byteCount
    }

    // MARK: Raw access

    /// Calls `body` with the readable bytes. Do not let the pointer escape.
    @inlinable
    public func withUnsafeReadableBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        // SAFETY: the readable span of storage this buffer holds through the call; `body` must not keep
        // the pointer (above).
        try body(
            UnsafeRawBufferPointer(start: self.storage.bytes + self.base + self.readerIndex, count: self.readableBytes))
    }

    /// Calls `body` with the writable bytes; move the writer index by what you wrote.
    @inlinable
    public mutating func withUnsafeMutableWritableBytes<T>(_ body: (UnsafeMutableRawBufferPointer) throws -> T) rethrows
        -> T
    {
        self.ensureUnique(minimumWritable: 0)
        // SAFETY: `ensureUnique` made the storage this buffer's alone; the writable span, for the call.
        return try body(
            UnsafeMutableRawBufferPointer(
                start: self.storage.bytes + self.base + self.writerIndex, count: self.writableBytes))
    }

    /// Ensures `minimumWritableBytes` of room, lets `body` write and return how many bytes it
    /// wrote, and moves the writer index by that.
    @inlinable
    @discardableResult
    public mutating func writeWithUnsafeMutableBytes(
        minimumWritableBytes: Int,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Int
    ) rethrows -> Int {
        self.ensureUnique(minimumWritable: minimumWritableBytes)
        // SAFETY: as above; `moveWriterIndex` then refuses a count beyond the writable span.
        let written = try body(
            UnsafeMutableRawBufferPointer(
                start: self.storage.bytes + self.base + self.writerIndex, count: self.writableBytes))
        self.moveWriterIndex(forwardBy: written)
        return written
    }

    /// The readable bytes' address, for gathering writes. Internal: the caller keeps this
    /// buffer alive and unchanged while it uses the pointer.
    var readablePointer: UnsafeRawBufferPointer {
        // SAFETY: the caller keeps this buffer alive and unchanged while it uses the pointer (above).
        UnsafeRawBufferPointer(start: self.storage.bytes + self.base + self.readerIndex, count: self.readableBytes)
    }

    /// Whether this buffer spans its whole storage (it is no slice of another).
    var isWholeStorage: Bool { self.base == 0 && self.limit == self.storage.byteCount }

    /// Whether no other buffer shares this storage (so a `clear()` would reuse it).
    package mutating func isUniquelyOwned() -> Bool {
        isKnownUniquelyReferenced(&self.storage)
    }
}

extension ByteBuffer {
    /// Reference-counted raw storage: one allocation, the bytes right after the header.
    ///
    /// Thread-safe to share: it is only written through a uniquely referenced buffer. The
    /// bytes live in the object itself (a `ManagedBuffer`), not in a block of their own: one
    /// allocation per buffer instead of two, and reaching the bytes from a buffer costs one
    /// cache miss instead of two (the embedded server's item lookups were bound by those).
    @usableFromInline
    final class Storage: ManagedBuffer<StorageHeader, UInt8> {
        // SAFETY (ByteBuffer's Sendable): mutation goes only through ByteBuffer methods that
        // first make the storage uniquely referenced (copy-on-write); shared storage is only
        // read. (`ManagedBuffer` is marked not Sendable, so the buffer carries the claim.)

        // Both read through pointers: `header` is a class property, and each access to it
        // would be checked for exclusivity at run time (a tenth of the server's time).
        @inlinable var bytes: UnsafeMutableRawPointer {
            self.withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) }
        }
        /// Bytes asked for (the allocation may hold a few more).
        @inlinable var byteCount: Int { self.withUnsafeMutablePointerToHeader { $0.pointee.byteCount } }

        /// The shared storage of every buffer created empty; the first write replaces it.
        /// Immortal: every thread retains it, and its count must not bounce between cores.
        // SAFETY: never written (capacity 0).
        @usableFromInline
        nonisolated(unsafe) static let empty = ImmortalObject.make(Storage.allocate(capacity: 0)) // SAFETY: above

        @usableFromInline
        static func allocate(capacity: Int) -> Storage {
            let object = Storage.create(minimumCapacity: max(capacity, 1)) { _ in StorageHeader(byteCount: capacity) }
            return unsafeDowncast(object, to: Storage.self)
        }
    }

    /// How many bytes a storage holds (they follow the header in the same object).
    @usableFromInline
    struct StorageHeader {
        @usableFromInline let byteCount: Int

        @usableFromInline
        init(byteCount: Int) {
            self.byteCount = byteCount
        }
    }
}
