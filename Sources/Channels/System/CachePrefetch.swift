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
}
