/// A hash index from keys to item slots, with the keys kept in the items themselves.
///
/// Thread-safe as a value (inside a `StoreShard`). Open addressing with linear probing over
/// one array of (hash, slot) pairs: a lookup touches that array, then the matching slot's
/// item, whose storage also holds the value the reply copies. A `Dictionary` of keys would
/// touch its key array, each key's own byte array and its value array first — a cache miss
/// each, and the server's hottest spot in a profile of pipelined gets. Deletion shifts the
/// following entries back, so there are no tombstones.
struct SlotIndex {
    private struct Entry {
        var hash: Int
        /// -1: empty.
        var slot: Int32
    }

    private var entries = [Entry](repeating: Entry(hash: 0, slot: -1), count: 16)
    private var mask = 15
    private(set) var count = 0

    /// The slot whose key `matches`, among the entries with `hash`.
    func find(hash: Int, matches: (Int) -> Bool) -> Int? {
        var index = hash & self.mask
        while true {
            let entry = self.entries[index]
            if entry.slot < 0 { return nil }
            if entry.hash == hash, matches(Int(entry.slot)) { return Int(entry.slot) }
            index = (index + 1) & self.mask
        }
    }

    /// Adds `slot` under `hash` (the caller knows the key is absent).
    mutating func insert(hash: Int, slot: Int) {
        if (self.count + 1) * 4 > self.entries.count * 3 { self.grow() }
        var index = hash & self.mask
        while self.entries[index].slot >= 0 { index = (index + 1) & self.mask }
        self.entries[index] = Entry(hash: hash, slot: Int32(slot))
        self.count += 1
    }

    /// Removes the entry of `slot` (stored under `hash`).
    mutating func remove(hash: Int, slot: Int) {
        var index = hash & self.mask
        while self.entries[index].slot != Int32(slot) {
            guard self.entries[index].slot >= 0 else { return }
            index = (index + 1) & self.mask
        }
        // Backward shift: move up every following entry that may live at or before the hole.
        var hole = index
        var next = (hole + 1) & self.mask
        while self.entries[next].slot >= 0 {
            let home = self.entries[next].hash & self.mask
            // `next` may fill the hole unless its home lies cyclically in (hole, next].
            let homeAfterHole = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next)
            if !homeAfterHole {
                self.entries[hole] = self.entries[next]
                hole = next
            }
            next = (next + 1) & self.mask
        }
        self.entries[hole].slot = -1
        self.count -= 1
    }

    mutating func removeAll() {
        for index in self.entries.indices { self.entries[index].slot = -1 }
        self.count = 0
    }

    private mutating func grow() {
        let old = self.entries
        self.entries = [Entry](repeating: Entry(hash: 0, slot: -1), count: old.count * 2)
        self.mask = self.entries.count - 1
        self.count = 0
        for entry in old where entry.slot >= 0 { self.insert(hash: entry.hash, slot: Int(entry.slot)) }
    }
}
