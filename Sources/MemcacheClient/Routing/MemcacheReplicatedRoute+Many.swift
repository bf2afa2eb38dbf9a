public import Channels
public import Codecs
import Synchronization

// The multi-key commands of a replicated route: keys are grouped by their copies (one group
// when every copy holds every key), each group read with failover or written to every copy.
extension MemcacheReplicatedRoute {
    /// The values of every present key: per group of keys with the same copies, one
    /// multi-get on the first copy that answers (with `failoverOnMiss`, the keys it missed go
    /// on to the next copy). Values found after a miss are not written back (single-key reads
    /// do that).
    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        guard !keys.isEmpty else { return [:] }
        return try await self.readMany(keys) { sender, keys in try await sender.getMany(keys) }
    }

    /// Each command goes to every copy of its key; a key fails when fewer than `writeQuorum`
    /// copies took it (`quorumNotMet`, or the first copy's error when none did).
    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        var failures: [MemcacheKey: MemcacheError] = [:]
        for group in try self.groups(commands.compactMap(\.key)) {
            let here = Set(group.keys)
            let part = commands.filter { $0.key.map(here.contains) ?? false }
            let outcomes = await Self.onEveryCopy(group.copies) { try await $0.writeMany(part, limits: limits) }
            try Task.checkCancellation()
            for key in here {
                // Each copy's word on this key: its own failure for it, or the whole exchange's.
                let perCopy = outcomes.map { outcome -> Result<Void, MemcacheError> in
                    switch outcome {
                    case .success(let failed): return failed[key].map { .failure($0) } ?? .success(())
                    case .failure(let error): return .failure(error)
                    }
                }
                do {
                    _ = try self.decide(perCopy, copies: group.copies, what: "setMany/deleteMany of \(key)")
                } catch let error as MemcacheError { failures[key] = error }
            }
        }
        return failures
    }

    /// Quiet meta commands, grouped by their keys' copies (an `mn` fence goes with the command
    /// before it). A group of reads (`mg`, `mn`) goes to the first copy that answers; a group
    /// with writes goes to every copy and must meet the quorum. `onReply` receives the replies
    /// of one copy per group (the first that answered or took the writes), then `MN` is
    /// returned.
    public func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        let groups = try self.groups(requests.compactMap(\.key))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for group in groups {
                let part = requests.part(for: group.keys)
                tasks.addTask {
                    let replies = try await self.batchPart(part, copies: group.copies)
                    for reply in replies { onReply(reply) }
                }
            }
            try await tasks.waitForAll()
        }
        return .meta(MemcacheMetaResponse(status: .noop))
    }

    /// One group's batch; its replies, from the one copy whose replies count.
    private func batchPart(_ part: [MemcacheMetaRequest], copies: [MemcacheCopy]) async throws -> [MemcacheResponse] {
        let exchange: @Sendable (any MemcacheRequestSender) async throws -> [MemcacheResponse] = { sender in
            let replies = LockedValue<[MemcacheResponse]>([])
            _ = try await sender.sendBatch(part) { reply in replies.withLock { $0.append(reply) } }
            return replies.withLock { $0 }
        }
        if part.allSatisfy({ $0.command == .get || $0.command == .noop }) {
            let available = copies.filter(\.isAvailable)
            var lastError: MemcacheError?
            for (position, copy) in available.enumerated() {
                do { return try await exchange(copy.sender) } catch let error as MemcacheError
                    where MemcacheServerSet.isHostFailure(error)
                {
                    lastError = error
                    if position + 1 < available.count { self.counters.failovers.add(1, ordering: .relaxed) }
                }
            }
            throw lastError ?? MemcacheError(.connectFailed, "every copy of these keys is on an ejected server")
        }
        let outcomes = await Self.onEveryCopy(copies, exchange)
        try Task.checkCancellation()
        return try self.decide(outcomes, copies: copies, what: "a batch of \(part.count) commands").value
    }

    /// A multi-key `get`/`gat` (text): each group's items from the first copy that answers.
    func multiGet(_ keys: [MemcacheKey], _ request: @escaping @Sendable ([MemcacheKey]) -> MemcacheRequest)
        async throws -> MemcacheResponse
    {
        let found = try await self.readMany(keys) { sender, keys -> [MemcacheKey: MemcacheItem] in
            let response = try await sender.send(request(keys))
            let byBytes = Dictionary(keys.map { ($0.bytes, $0) }, uniquingKeysWith: { first, _ in first })
            switch response {
            case .end: return [:]
            case .values(let items):
                var found: [MemcacheKey: MemcacheItem] = [:]
                for item in items { if let key = byBytes[item.key] { found[key] = item } }
                return found
            default: throw MemcacheError(.unexpectedResponse, "\(request(keys).commandName) got \(response)")
            }
        }
        // In the order asked, as one server would answer.
        let items = keys.compactMap { found[$0] }
        return items.isEmpty ? .end : .values(items)
    }

    /// Reads `keys` group by group, concurrently.
    private func readMany<Found: Sendable>(
        _ keys: [MemcacheKey],
        _ ask: @escaping @Sendable (any MemcacheRequestSender, [MemcacheKey]) async throws -> [MemcacheKey: Found]
    ) async throws -> [MemcacheKey: Found] {
        let groups = try self.groups(keys)
        if groups.count == 1 {
            return try await self.readGroup(
                copies: groups[0].copies, keys: groups[0].keys, missFailover: self.configuration.failoverOnMiss, ask)
        }
        return try await withThrowingTaskGroup(of: [MemcacheKey: Found].self) { tasks in
            for group in groups {
                tasks.addTask {
                    try await self.readGroup(
                        copies: group.copies, keys: group.keys, missFailover: self.configuration.failoverOnMiss, ask)
                }
            }
            var found: [MemcacheKey: Found] = [:]
            for try await part in tasks { found.merge(part) { first, _ in first } }
            return found
        }
    }

    /// One group's keys from its first available copy that answers; on to the next copy
    /// when one fails for the host's sake, and (with `missFailover`) for the keys it missed.
    private func readGroup<Found: Sendable>(
        copies: [MemcacheCopy], keys: [MemcacheKey], missFailover: Bool,
        _ ask: @Sendable (any MemcacheRequestSender, [MemcacheKey]) async throws -> [MemcacheKey: Found]
    ) async throws -> [MemcacheKey: Found] {
        let available = copies.filter(\.isAvailable)
        guard !available.isEmpty else {
            throw MemcacheError(.connectFailed, "every copy of these keys is on an ejected server")
        }
        var wanted = keys
        var found: [MemcacheKey: Found] = [:]
        var answered = false
        var lastError: MemcacheError?
        for (position, copy) in available.enumerated() where !wanted.isEmpty {
            let isLast = position + 1 == available.count
            do {
                let part = try await ask(copy.sender, wanted)
                answered = true
                found.merge(part) { first, _ in first }
                guard missFailover else { break }
                wanted = wanted.filter { part[$0] == nil }
                if !wanted.isEmpty, !isLast { self.counters.missFailovers.add(1, ordering: .relaxed) }
            } catch let error as MemcacheError where MemcacheServerSet.isHostFailure(error) {
                lastError = error
                if !isLast { self.counters.failovers.add(1, ordering: .relaxed) }
            }
        }
        guard answered else { throw lastError ?? MemcacheError(.connectFailed, "no copy of these keys answered") }
        return found
    }

    /// The keys grouped by their copies (the same servers in the same order), in first-seen
    /// order.
    private func groups(_ keys: [MemcacheKey]) throws -> [(copies: [MemcacheCopy], keys: [MemcacheKey])] {
        var groups: [(copies: [MemcacheCopy], keys: [MemcacheKey])] = []
        var position: [[String]: Int] = [:]
        for key in keys {
            let copies = try self.copies(of: key)
            let names = copies.map(\.name)
            if let index = position[names] {
                groups[index].keys.append(key)
            } else {
                position[names] = groups.count
                groups.append((copies, [key]))
            }
        }
        return groups
    }
}
