import Codecs
import Pool

// Where a replicated route finds the copies of a key on a set's ring.
extension MemcacheServerSet {
    /// The copies of `key` on this set: its ketama server first, then the next `count - 1`
    /// distinct servers clockwise on the ring. Each copy's calls count toward its server's
    /// ejection, as the set's own calls do; an ejected server's copy is marked unavailable
    /// (and its probe started when due).
    func replicas(of key: MemcacheKey, count: Int) throws -> [MemcacheCopy] {
        let (routed, probes) = self.state.withLock { topology in
            topology.replicas(hash: MD5.firstWord(key.bytes), count: count, now: .now())
        }
        for member in probes { self.probe(member) }
        return try routed.get().map { member, isActive in
            MemcacheCopy(
                name: member.address, sender: MemberSender(set: self, member: member), isAvailable: isActive)
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

/// One copy of a key for a route: the sender that reaches it, its name in logs and reports,
/// and whether it takes calls now (false: its server is ejected).
struct MemcacheCopy: Sendable {
    let name: String
    let sender: any MemcacheRequestSender
    let isAvailable: Bool
}
