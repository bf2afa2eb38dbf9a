import Channels
import Codecs

/// Gathers the single-key gets issued on one connection within one loop turn and sends them
/// as one multi-key `gets k1 k2 …` (spymemcached's "get optimization"): memcached answers a
/// multi-key get in one batch, where it answers every pipelined text get with a write of its
/// own. A lone get goes out as a meta `mg`, as without coalescing.
///
/// Loop-confined: use only on the connection's loop. Semantics are kept per caller: each
/// gets its own item or miss (a key asked for twice is answered to both), and a failure of
/// the batch (a server error, a dead connection) fails exactly the callers in it.
final class GetCoalescer: @unchecked Sendable {  // SAFETY: loop-confined, see the type comment
    typealias Completion = @Sendable (Result<MemcacheItem?, any Error>) -> Void

    private var pending: [(key: MemcacheKey, completion: Completion)] = []
    private var flushScheduled = false

    /// Queues a get of `key` (a text key); the batch leaves after the loop's queued tasks.
    func get(_ key: MemcacheKey, on connection: MemcacheConnection, completion: @escaping Completion) {
        self.pending.append((key, completion))
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        let transfer = PoolTransfer(self)
        connection.channel.eventLoop.execute { transfer.value.flush(on: connection) }
    }

    /// The most key bytes one multi-key get carries; a larger batch leaves as several. Long
    /// get lines are legal, but a server reading into a fixed buffer (and memcached over TLS)
    /// is safest with lines of a few kilobytes.
    static let maximumLineKeyBytes = 8 << 10

    private func flush(on connection: MemcacheConnection) {
        self.flushScheduled = false
        let batch = self.pending
        self.pending.removeAll(keepingCapacity: true)
        var start = 0
        var bytes = 0
        for index in batch.indices {
            bytes += batch[index].key.bytes.count + 1
            if bytes > Self.maximumLineKeyBytes, index > start {
                Self.send(batch[start..<index], on: connection)
                start = index
                bytes = batch[index].key.bytes.count + 1
            }
        }
        Self.send(batch[start...], on: connection)
    }

    private static func send(_ batch: ArraySlice<(key: MemcacheKey, completion: Completion)>, on connection: MemcacheConnection) {
        if batch.count == 1, let only = batch.first {
            let request = MemcacheRequest.meta(.get(only.key, flags: [.returnValue, .returnFlags, .returnCAS]))
            connection.sendOnLoop(request) { result in
                only.completion(result.flatMap { Self.item(from: $0, key: only.key) })
            }
            return
        }
        // Each key is asked for once; `slots` says where each caller's key sits in `unique`.
        var unique: [MemcacheKey] = []
        var slots: [Int] = []
        slots.reserveCapacity(batch.count)
        var slotOfKey: [MemcacheKey: Int] = [:]
        for entry in batch {
            if let slot = slotOfKey[entry.key] {
                slots.append(slot)
            } else {
                slotOfKey[entry.key] = unique.count
                slots.append(unique.count)
                unique.append(entry.key)
            }
        }
        connection.sendOnLoop(.get(keys: unique, withCAS: true)) { [unique, slots] result in
            switch result {
            case .success(.values(let items)):
                let found = Self.match(items, to: unique)
                for (entry, slot) in zip(batch, slots) { entry.completion(.success(found[slot])) }
            case .success(.end):
                for entry in batch { entry.completion(.success(nil)) }
            case .success(.error(let error)):
                for entry in batch { entry.completion(.failure(error)) }
            case .success(let other):
                let error = MemcacheError(.unexpectedResponse, "gets got \(other)")
                for entry in batch { entry.completion(.failure(error)) }
            case .failure(let error):
                for entry in batch { entry.completion(.failure(error)) }
            }
        }
    }

    /// The items of a multi-key get, placed by the key each answers (nil: a miss).
    ///
    /// memcached answers in request order and leaves out misses, so one forward walk over
    /// `keys` places every item without hashing a key. A proxy may answer out of order
    /// (twemproxy merges its servers' replies): from the first item that does not follow,
    /// items are placed by a lookup of their key. An item for a key not asked for is ignored.
    static func match(_ items: [MemcacheItem], to keys: [MemcacheKey]) -> [MemcacheItem?] {
        var found = [MemcacheItem?](repeating: nil, count: keys.count)
        var next = 0
        var slotOfKey: [[UInt8]: Int]?
        for item in items {
            if slotOfKey == nil {
                var slot = next
                while slot < keys.count, keys[slot].bytes != item.key { slot += 1 }
                if slot < keys.count {
                    found[slot] = item
                    next = slot + 1
                    continue
                }
                slotOfKey = Dictionary(keys.enumerated().map { ($0.element.bytes, $0.offset) }, uniquingKeysWith: { first, _ in first })
            }
            if let slot = slotOfKey?[item.key] { found[slot] = item }
        }
        return found
    }

    /// The item of an `mg … v f c` reply, nil on a miss.
    static func item(from response: MemcacheResponse, key: MemcacheKey) -> Result<MemcacheItem?, any Error> {
        switch response {
        case .meta(let meta) where meta.status == .value:
            return .success(MemcacheItem(key: key.bytes, flags: meta.clientFlags ?? 0, cas: meta.cas, value: meta.value ?? ByteBuffer()))
        case .meta(let meta) where meta.status == .miss:
            return .success(nil)
        case .error(let error):
            return .failure(error)
        default:
            return .failure(MemcacheError(.unexpectedResponse, "mg got \(response)"))
        }
    }
}
