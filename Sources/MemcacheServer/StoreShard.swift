/// One shard of the embedded server's store: a hash index over items kept in least recently
/// used order, within a byte budget.
///
/// Thread-safe as a value; `ItemStore` keeps each shard under its own lock. Expired and
/// flushed items are dropped when they are next looked at, or evicted as the LRU's tail.
/// The command layer never sees slots: it edits one item at a time through `withItem`.
struct StoreShard {
    private struct Slot {
        var item: StoredItem?
        /// The key's hash, to find the slot's index entry again.
        var hash = 0
        var newer = -1
        var older = -1
    }

    private var index = SlotIndex()
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    /// Most and least recently used slot, -1 when empty.
    private var newest = -1
    private var oldest = -1

    /// Bytes charged for the items held.
    private(set) var bytes = 0
    let byteLimit: Int
    private let shardIndex: UInt64
    private let shardCount: UInt64
    private var casSequence: UInt64 = 0
    /// `flush_all` with a delay: items stored at or before it die once it has passed.
    private var flushTime = 0

    var statistics = ShardStatistics()
    var count: Int { self.index.count }
    /// Evictions by size class (index 0 is class 1): counted only when one happens.
    private var evictionsByClass = [Int](repeating: 0, count: SizeClasses.chunkSizes.count)

    /// The live items by size class, walking the whole shard (for `stats items` and
    /// `stats slabs`, which operators run now and then: the walk holds the shard's lock for
    /// about a microsecond per 100 items).
    func sizeClasses(now: Int) -> [SizeClassTally] {
        var tallies = self.evictionsByClass.map { SizeClassTally(evictions: $0) }
        var slot = self.newest
        while slot >= 0 {
            if let item = self.slots[slot].item, self.isLive(item, now: now) {
                let index = SizeClasses.classOf(size: item.size) - 1
                tallies[index].items += 1
                tallies[index].bytes += item.size
                // Walking from newest to oldest: the last seen is the class's oldest.
                tallies[index].oldestAge = max(now - item.lastAccess, 0)
            }
            slot = self.slots[slot].older
        }
        return tallies
    }

    init(byteLimit: Int, shardIndex: Int, shardCount: Int) {
        self.byteLimit = byteLimit
        self.shardIndex = UInt64(shardIndex)
        self.shardCount = UInt64(shardCount)
    }

    /// Runs `body` on the live item under `key` (nil when absent, expired or flushed). The
    /// body may change it, delete it (set nil) or create it (set a value). `newCAS` is a
    /// fresh CAS value, unique in the whole store: assign it to the item to mark a
    /// modification. A changed or created item becomes the most recently used; the shard then
    /// evicts from the other end until it fits its budget again.
    mutating func withItem<Result>(
        _ key: ItemKey, now: Int, bump: Bool = true, _ body: (inout StoredItem?, _ newCAS: UInt64) -> Result
    ) -> Result {
        let slot = self.liveSlot(key, now: now)
        var item = slot.flatMap { self.slots[$0].item.take() }
        let oldSize = item?.size ?? 0
        let newCAS = (self.casSequence + 1) * self.shardCount + self.shardIndex
        let result = body(&item, newCAS)
        if item?.cas == newCAS { self.casSequence += 1 }
        switch (slot, item) {
        case (let slot?, let item?):
            self.slots[slot].item = item
            self.bytes += item.size - oldSize
            if bump { self.moveToNewest(slot) }
        case (let slot?, nil):
            self.bytes -= oldSize
            self.unlink(slot)
            self.index.remove(hash: key.hash, slot: slot)
            self.freeSlots.append(slot)
        case (nil, let item?):
            let slot = self.insert(item, hash: key.hash)
            self.statistics.totalItems += 1
            self.evictToFit(keeping: slot)
            return result
        case (nil, nil):
            break
        }
        self.evictToFit(keeping: slot ?? -1)
        return result
    }

    /// Drops every item now (`flush_all`), or makes those stored by `time` die then.
    mutating func flush(at time: Int, now: Int) {
        guard time > now else {
            self.index.removeAll()
            self.slots.removeAll(keepingCapacity: true)
            self.freeSlots.removeAll(keepingCapacity: true)
            self.newest = -1
            self.oldest = -1
            self.bytes = 0
            return
        }
        // As memcached: a second early, so that items stored in the very second the delay
        // ends survive it.
        self.flushTime = time - 1
    }

    // MARK: Slots and LRU order

    private mutating func liveSlot(_ key: ItemKey, now: Int) -> Int? {
        let found = self.index.find(hash: key.hash) { self.slots[$0].item?.hasKey(key.bytes) ?? false }
        // Read in place: binding the item would copy it (a retain and release per lookup).
        guard let slot = found, let live = self.slots[slot].item.map({ self.isLive($0, now: now) }) else { return nil }
        guard !live else { return slot }
        self.remove(slot)
        return nil
    }

    /// The live item under `key`, lent in place to `body`; nil (and `body` not run) when
    /// there is none. For reads: unlike `withItem` it never copies the item out and back (each
    /// copy a retain and a release; a 100-key multi-get made 500 of them), and, as memcached
    /// does, it makes the item the most recently used only when it was last used
    /// `bumpInterval` seconds ago or more: relinking on every hit touched two random
    /// neighbours' slots per key, and once sets had shuffled the LRU order a multi-get ran at
    /// half its speed for those cache misses. `body` sees the item's last use before it runs.
    mutating func withLiveItem<Result>(_ key: ItemKey, now: Int, _ body: (inout StoredItem) -> Result) -> Result? {
        guard let slot = self.liveSlot(key, now: now),
            let lastAccess = self.slots[slot].item.map({ $0.lastAccess })
        else { return nil }
        // Optional chaining on the stored item: a mutating call in place.
        let result = self.slots[slot].item?.lend(to: body)
        if now - lastAccess >= Self.bumpInterval { self.moveToNewest(slot) }
        return result
    }

    /// memcached's `ITEM_UPDATE_INTERVAL`.
    static let bumpInterval = 60

    /// Neither expired nor flushed.
    private func isLive(_ item: StoredItem, now: Int) -> Bool {
        let expired = item.expiry != 0 && item.expiry <= now
        let flushed = self.flushTime != 0 && self.flushTime <= now && item.storedAt <= self.flushTime
        return !expired && !flushed
    }

    private mutating func insert(_ item: StoredItem, hash: Int) -> Int {
        let slot: Int
        if let free = self.freeSlots.popLast() {
            slot = free
            self.slots[slot] = Slot(item: item, hash: hash)
        } else {
            slot = self.slots.count
            self.slots.append(Slot(item: item, hash: hash))
        }
        self.index.insert(hash: hash, slot: slot)
        self.bytes += item.size
        self.linkAsNewest(slot)
        return slot
    }

    private mutating func remove(_ slot: Int) {
        guard let item = self.slots[slot].item.take() else { return }
        self.bytes -= item.size
        self.unlink(slot)
        self.index.remove(hash: self.slots[slot].hash, slot: slot)
        self.freeSlots.append(slot)
    }

    /// Evicts least recently used items until the shard fits its budget; the item just
    /// written stays unless it alone is over the budget (the store refuses such items first).
    private mutating func evictToFit(keeping written: Int) {
        while self.bytes > self.byteLimit, self.oldest >= 0 {
            let victim = self.oldest
            if victim == written, self.slots[victim].newer < 0 { break }
            if let size = self.slots[victim].item?.size {
                self.evictionsByClass[SizeClasses.classOf(size: size) - 1] += 1
            }
            self.remove(victim)
            self.statistics.evictions += 1
        }
    }

    private mutating func moveToNewest(_ slot: Int) {
        guard self.newest != slot else { return }
        self.unlink(slot)
        self.linkAsNewest(slot)
    }

    private mutating func linkAsNewest(_ slot: Int) {
        self.slots[slot].older = self.newest
        self.slots[slot].newer = -1
        if self.newest >= 0 { self.slots[self.newest].newer = slot }
        self.newest = slot
        if self.oldest < 0 { self.oldest = slot }
    }

    private mutating func unlink(_ slot: Int) {
        let newer = self.slots[slot].newer
        let older = self.slots[slot].older
        if newer >= 0 { self.slots[newer].older = older } else { self.newest = older }
        if older >= 0 { self.slots[older].newer = newer } else { self.oldest = newer }
        self.slots[slot].newer = -1
        self.slots[slot].older = -1
    }
}

/// Counters of one shard, summed by `stats`.
struct ShardStatistics {
    var getHits = 0
    var getMisses = 0
    var sets = 0
    var touches = 0
    var evictions = 0
    var totalItems = 0

    static func + (lhs: ShardStatistics, rhs: ShardStatistics) -> ShardStatistics {
        ShardStatistics(
            getHits: lhs.getHits + rhs.getHits, getMisses: lhs.getMisses + rhs.getMisses, sets: lhs.sets + rhs.sets,
            touches: lhs.touches + rhs.touches, evictions: lhs.evictions + rhs.evictions,
            totalItems: lhs.totalItems + rhs.totalItems)
    }
}

/// A key looked up: its bytes (borrowed for the lookup: a request's own bytes, no copy) and
/// their hash, computed once per request (over the bytes as one block) and used for both
/// the shard and the slot index.
struct ItemKey {
    let bytes: UnsafeRawBufferPointer
    let hash: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        self.hash = hasher.finalize()
    }
}
