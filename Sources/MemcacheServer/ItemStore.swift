import Channels
import Foundation

/// The embedded server's items: shards, each under its own lock, shared by every loop.
///
/// Thread-safe. A key's shard is picked by its hash, so two loops contend only when they
/// touch the same shard at the same moment; with 64 shards and 2 loops that is rare (we
/// chose sharded locks over loop-owned shards, which would send most requests to another
/// loop and back). The memory limit is split evenly between the shards, and each evicts its
/// least recently used items to stay within its part.
///
/// ```swift
/// let store = ItemStore(memoryLimit: 64 << 20)
/// store.withItem(Array("k".utf8)) { item, newCAS, _ in item?.value }
/// ```
final class ItemStore: Sendable {
    private let shards: [LockedValue<StoreShard>]
    let memoryLimit: Int
    /// The largest value stored (memcached's `-I`, 1 MiB by default).
    let maximumValueLength: Int
    /// Unix seconds; injected so that tests of TTLs need not sleep.
    let clock: @Sendable () -> Int

    init(
        memoryLimit: Int = 64 << 20, maximumValueLength: Int = 1 << 20, shardCount: Int = 64,
        clock: @escaping @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }
    ) {
        let perShard = max(memoryLimit / shardCount, 1)
        self.shards = (0..<shardCount).map {
            LockedValue(StoreShard(byteLimit: perShard, shardIndex: $0, shardCount: shardCount))
        }
        self.memoryLimit = memoryLimit
        self.maximumValueLength = maximumValueLength
        self.clock = clock
    }

    /// The most one item may take (key, value and overhead): a shard's budget.
    var maximumItemSize: Int { max(self.memoryLimit / self.shards.count, 1) }

    /// Runs `body` on the live item under `key` under its shard's lock; see
    /// `StoreShard.withItem`. The body also gets the current time and the shard's counters.
    func withItem<Result>(
        _ key: [UInt8], bump: Bool = true,
        _ body: (_ item: inout StoredItem?, _ newCAS: UInt64, _ context: inout ItemContext) -> Result
    ) -> Result {
        let now = self.clock()
        return key.withUnsafeBytes { self.withItem(rawKey: $0, now: now, bump: bump, body) }
    }

    /// `withItem` for a key still in the request's bytes, at a time the caller read once for
    /// a whole request (a multi-get need not read the clock per key).
    func withItem<Result>(
        rawKey: UnsafeRawBufferPointer, now: Int, bump: Bool = true,
        _ body: (_ item: inout StoredItem?, _ newCAS: UInt64, _ context: inout ItemContext) -> Result
    ) -> Result {
        let key = ItemKey(rawKey)
        let shard = self.shards[Self.shardIndex(hash: key.hash, count: self.shards.count)]
        return shard.withLock { shard in
            var context = ItemContext(now: now, statistics: ShardStatistics())
            let result = shard.withItem(key, now: now, bump: bump) { item, newCAS in body(&item, newCAS, &context) }
            shard.statistics = shard.statistics + context.statistics
            return result
        }
    }

    /// What a read found.
    enum Lookup<Result> {
        /// No live item: counted as a miss.
        case miss
        /// The item is there and `body` declined it (for the full path to answer): not counted.
        case declined
        /// `body` served it: counted as a hit, and the item marked fetched and used now.
        case hit(Result)
    }

    /// A get's lookup of a key still in the request's bytes: the live item lent in place to
    /// `body` under its shard's lock, to write the reply from. No copy of the item is made.
    /// `body` returns nil to decline (and leave the item as it was).
    func withItemForGet<Result>(
        rawKey: UnsafeRawBufferPointer, now: Int, _ body: (inout StoredItem) -> Result?
    ) -> Lookup<Result> {
        let key = ItemKey(rawKey)
        let shard = self.shards[Self.shardIndex(hash: key.hash, count: self.shards.count)]
        return shard.withLock { shard in
            // nil: no live item; .some(nil): there, declined.
            let found = shard.withLiveItem(key, now: now) { item -> Result? in
                guard let result = body(&item) else { return nil }
                item.fetched = true
                item.lastAccess = now
                return result
            }
            switch found {
            case nil:
                shard.statistics.getMisses += 1
                return .miss
            case .some(nil):
                return .declined
            case .some(let result?):
                shard.statistics.getHits += 1
                return .hit(result)
            }
        }
    }

    /// The shard of a key: picked by the hash's high half, because each shard's slot index
    /// starts probing at the hash's low bits. Picked by the low bits too (as it once was),
    /// every key of a shard would share them and crowd into a fraction of its index's slots
    /// (a fifth of the server's time went to probing under a multi-get load).
    static func shardIndex(hash: Int, count: Int) -> Int {
        Int((UInt64(UInt(bitPattern: hash)) >> 32) % UInt64(count))
    }

    /// `flush_all`: every item dies now, or at `delay` seconds from now.
    func flush(delay: Int) {
        let now = self.clock()
        for shard in self.shards { shard.withLock { $0.flush(at: now + delay, now: now) } }
    }

    /// The live items by size class, summed over the shards (see `StoreShard.sizeClasses`).
    func sizeClasses() -> [SizeClassTally] {
        let now = self.clock()
        var total = [SizeClassTally](repeating: SizeClassTally(), count: SizeClasses.chunkSizes.count)
        for shard in self.shards {
            let tallies = shard.withLock { $0.sizeClasses(now: now) }
            for index in total.indices { total[index] = total[index] + tallies[index] }
        }
        return total
    }

    /// Items, bytes and counters summed over the shards.
    func snapshot() -> (items: Int, bytes: Int, statistics: ShardStatistics) {
        self.shards.reduce((0, 0, ShardStatistics())) { sum, shard in
            shard.withLock { (sum.0 + $0.count, sum.1 + $0.bytes, sum.2 + $0.statistics) }
        }
    }
}

/// What a command sees beside its item: the time of the request, and counters it adds to
/// its shard's.
struct ItemContext {
    let now: Int
    var statistics: ShardStatistics
}
