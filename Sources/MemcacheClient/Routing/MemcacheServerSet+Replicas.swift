import Codecs
import Pool

// Where a replicated route finds the copies of a key on a set's ring.
extension MemcacheServerSet {
    /// The copies of `key` on this set: its ketama server first, then the next `count - 1`
    /// distinct servers clockwise on the ring. Each copy's calls count toward its server's
    /// ejection, as the set's own calls do; an ejected server's copy is marked unavailable
    /// (and its probe started when due).
    func ringCopies(of key: MemcacheKey, count: Int) throws -> RingCopies {
        let (routed, probes) = self.state.withLock { topology in
            topology.replicas(hash: MD5.firstWord(key.bytes), count: count, now: .now())
        }
        for member in probes { self.probe(member) }
        return RingCopies(set: self, placement: try routed.get())
    }

    /// `ringCopies` as values.
    func replicas(of key: MemcacheKey, count: Int) throws -> [MemcacheCopy] {
        let copies = try self.ringCopies(of: key, count: count)
        return (0..<copies.count).map(copies.copy)
    }

    /// A key's copies on the ring, read from the placement table (no array built per call).
    struct RingCopies: MemcacheCopyList {
        let set: MemcacheServerSet
        let placement: ReplicaPlacement
        let count: Int

        init(set: MemcacheServerSet, placement: ReplicaPlacement) {
            self.set = set
            self.placement = placement
            // Rows are padded with -1 at their end where the ring has fewer servers.
            var count = 0
            while count < placement.width, placement.table[placement.base + count] >= 0 { count += 1 }
            self.count = count
        }

        private func member(_ slot: Int) -> Member {
            self.placement.members[self.placement.table[self.placement.base + slot]]
        }

        func name(_ slot: Int) -> String { self.member(slot).address }

        func isAvailable(_ slot: Int) -> Bool {
            self.placement.active?[self.placement.table[self.placement.base + slot]] ?? true
        }

        func run<T: Sendable>(_ slot: Int, _ operation: (any MemcacheRequestSender) async throws -> T) async throws
            -> T
        {
            try await self.set.attempt(self.member(slot)) { try await operation($0) }
        }

        func copy(_ slot: Int) -> MemcacheCopy {
            let member = self.member(slot)
            return MemcacheCopy(
                name: member.address, sender: MemberSender(set: self.set, member: member),
                isAvailable: self.isAvailable(slot))
        }
    }

    /// One member's pool, reached through the set's failure accounting.
    private struct MemberSender: MemcacheRequestSender {
        let set: MemcacheServerSet
        let member: Member

        var wireProtocol: MemcacheProtocol { self.set.wireProtocol }

        func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
            try await self.set.attempt(self.member) { try await $0.send(request) }
        }

        func sendBatch(
            _ requests: [MemcacheMetaRequest], onReply: @escaping @Sendable (MemcacheResponse) -> Void
        ) async throws -> MemcacheResponse {
            try await self.set.attempt(self.member) { try await $0.sendBatch(requests, onReply: onReply) }
        }

        func getItem(_ key: MemcacheKey) async throws -> MemcacheItem? {
            try await self.set.attempt(self.member) { try await $0.getItem(key) }
        }

        func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
            try await self.set.attempt(self.member) { try await $0.getMany(keys) }
        }

        func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
            MemcacheError]
        {
            try await self.set.attempt(self.member) { try await $0.writeMany(commands, limits: limits) }
        }
    }
}
