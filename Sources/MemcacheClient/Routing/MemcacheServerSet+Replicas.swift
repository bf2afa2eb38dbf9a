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

        /// Whether `start` can send on every copy (no pool is traced: a traced call goes
        /// through `send`, which makes its span).
        var canStart: Bool {
            (0..<self.count).allSatisfy { !self.member($0).pool.isTraced }
        }

        /// Sends `request` to the copy without a task (`MemcachePool.start`), counted like
        /// `run`; `completion` gets the outcome on a loop (an ejected copy's failure at once).
        func start(
            _ slot: Int, _ request: MemcacheRequest,
            completion: @escaping @Sendable (Result<MemcacheResponse, MemcacheError>) -> Void
        ) {
            guard self.isAvailable(slot) else {
                completion(.failure(MemcacheError(.connectFailed, "\(self.name(slot)) is ejected after failing")))
                return
            }
            let (set, member) = (self.set, self.member(slot))
            member.pool.start(request, deadline: nil) { result in
                switch result {
                case .success(let response):
                    set.counted(member, failure: nil)
                    completion(.success(response))
                case .failure(let error):
                    set.counted(member, failure: error)
                    completion(
                        .failure(
                            error as? MemcacheError
                                ?? MemcacheError(.connectionClosed, "\(member.address): \(error)", cause: error)))
                }
            }
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
