import Glibc

/// Byte searches with libc's `memchr`, which scans a word (or a vector) at a time: the
/// scans of line-based decoders run through it.
enum ByteScan {
    /// The offset of the first `byte` in `bytes`, or nil.
    @inline(__always)
    static func firstOffset(of byte: UInt8, in bytes: UnsafeRawBufferPointer) -> Int? {
        // SAFETY: memchr reads at most `bytes.count` bytes from `base`, all inside `bytes`.
        guard let base = bytes.baseAddress, bytes.count > 0 else { return nil }
        guard let found = memchr(base, Int32(byte), bytes.count) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }
}
