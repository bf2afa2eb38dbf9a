import CLinux

/// Asks the CPU to bring memory into its cache ahead of a read, without waiting for it.
///
/// For a caller that knows now which cold memory it reads next (say, the next of many keys
/// picked at random) and has other work to do meanwhile. A prefetch never faults, whatever
/// the address: a stale or wrong one costs nothing but the hint.
///
/// ```swift
/// CachePrefetch.forReading(table.baseAddress! + nextIndex)
/// ```
package enum CachePrefetch {
    @inline(__always)
    package static func forReading(_ address: UnsafeRawPointer) {
        CLinux_prefetchForReading(address)
    }

    /// Asks for `lines` consecutive 64-byte cache lines from `address`: one call from another
    /// module (where the C hint is not inlined) for an object's first few lines.
    package static func forReading(_ address: UnsafeRawPointer, lines: Int) {
        for line in 0..<lines { CLinux_prefetchForReading(address + line &* 64) }
    }
}
