import TestSupport
import Testing

@testable import MemcacheServer

@Suite("Slot index")
struct SlotIndexTests {
    @Test("20,000 random inserts and removes, with many colliding hashes, agree with a dictionary")
    func matchesDictionary() {
        var index = SlotIndex()
        var reference: [Int: Int] = [:] // slot -> hash
        var random = SplitMix64(seed: 7)
        var nextSlot = 0
        for _ in 0..<20_000 {
            if reference.isEmpty || random.next() % 3 != 0 {
                // Hashes from a small range collide and wrap around the table's end.
                let hash = Int(random.next() % 64) &* (random.next() % 2 == 0 ? 1 : 1_000_003)
                index.insert(hash: hash, slot: nextSlot)
                reference[nextSlot] = hash
                nextSlot += 1
            } else {
                guard let (slot, hash) = reference.randomElement(using: &random) else { continue }
                index.remove(hash: hash, slot: slot)
                reference[slot] = nil
            }
        }
        #expect(index.count == reference.count)
        for (slot, hash) in reference {
            #expect(index.find(hash: hash) { $0 == slot } == slot)
        }
        index.removeAll()
        #expect(index.count == 0)
        #expect(reference.allSatisfy { index.find(hash: $0.value) { _ in true } == nil })
    }
}

@Suite("Item store shards")
struct ItemStoreShardTests {
    @Test("a shard's keys spread over its index's probe starts (the shard is not chosen by the same low bits)")
    func shardAndIndexBitsIndependent() {
        var homes = Set<Int>()
        for number in 0..<20_000 {
            let hash = Array("key:\(number)".utf8).withUnsafeBytes { ItemKey($0).hash }
            guard ItemStore.shardIndex(hash: hash, count: 64) == 0 else { continue }
            homes.insert(hash & 255)
        }
        // About 310 keys land in shard 0; over 256 probe starts they cover most of them.
        #expect(homes.count > 150, "shard 0's keys start probing at only \(homes.count) of 256 places")
    }
}
