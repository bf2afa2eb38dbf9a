/// memcached's slab classes with its default settings (`-n 48 -f 1.25`, 1 MiB pages, chunks
/// of at most 512 KiB): what `stats items` and `stats slabs` group items by.
///
/// This server allocates each item on its own (no slabs), so a class is only a size range:
/// an item of `size` bytes (key, value and the per-item overhead) belongs to the first class
/// whose chunk holds it, as in memcached; larger items go to the last class (memcached
/// spreads them over its chunks).
enum SizeClasses {
    static let pageSize = 1 << 20
    static let largestChunk = 512 << 10

    /// Chunk sizes, class 1 first: 96, 120, 152, 192, 240, 304, 384, …, then 524288.
    static let chunkSizes: [Int] = {
        var sizes: [Int] = []
        var size = 96.0
        while true {
            var aligned = Int(size)
            if aligned % 8 != 0 { aligned += 8 - aligned % 8 }
            if Double(Self.largestChunk) / 1.25 < Double(aligned) { break }
            sizes.append(aligned)
            size = Double(aligned) * 1.25
        }
        return sizes + [Self.largestChunk]
    }()

    /// The class (1-based, as memcached numbers them) of an item of `size` bytes.
    static func classOf(size: Int) -> Int {
        var low = 0
        var high = Self.chunkSizes.count - 1
        while low < high {
            let middle = (low + high) / 2
            if Self.chunkSizes[middle] >= size { high = middle } else { low = middle + 1 }
        }
        return low + 1
    }
}

/// One size class's items, summed over the shards (`stats items`, `stats slabs`).
struct SizeClassTally: Equatable {
    var items = 0
    /// Bytes of the items (memcached's `mem_requested`).
    var bytes = 0
    /// Seconds since the least recently used item of the class was last used.
    var oldestAge = 0
    var evictions = 0

    static func + (lhs: Self, rhs: Self) -> Self {
        Self(
            items: lhs.items + rhs.items, bytes: lhs.bytes + rhs.bytes, oldestAge: max(lhs.oldestAge, rhs.oldestAge),
            evictions: lhs.evictions + rhs.evictions)
    }
}
