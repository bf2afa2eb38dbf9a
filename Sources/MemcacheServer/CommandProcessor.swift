import Channels
import Codecs

/// Executes decoded memcache requests against an `ItemStore` and writes the replies, as
/// memcached 1.6 does, byte for byte where clients can tell.
///
/// Loop-confined: one per connection. It writes replies into the caller's buffer (the
/// handler sends them once per read burst) and never touches a socket, so tests drive it
/// with bytes alone.
struct CommandProcessor {
    let store: ItemStore
    let counters: ServerCounters
    /// What `version` answers: the memcached version whose behaviour this server follows
    /// (clients parse it), marked as ours.
    static let version = "1.6.18-mcpool"

    /// What the connection does after a request.
    enum Next { case goOn, close }

    func process(_ input: MemcacheServerInput, into out: inout ByteBuffer) -> Next {
        switch input {
        case .invalid(let error):
            MemcacheResponseEncoder().encode(.error(error), into: &out)
            return .goOn
        case .request(let request):
            return self.process(request, into: &out)
        }
    }

    func process(_ request: MemcacheRequest, into out: inout ByteBuffer) -> Next {
        switch request {
        case .get(let keys, let withCAS):
            self.get(keys, touch: nil, withCAS: withCAS, into: &out)
        case .getAndTouch(let ttl, let keys, let withCAS):
            self.get(keys, touch: ttl, withCAS: withCAS, into: &out)
        case .store(let store):
            self.reply(self.store(store), noreply: store.noreply, into: &out)
        case .delete(let key, let noreply):
            let deleted = self.store.withItem(key.bytes) { item, _, _ in
                defer { item = nil }
                return item != nil
            }
            self.reply(deleted ? .deleted : .notFound, noreply: noreply, into: &out)
        case .arithmetic(let key, let delta, let increment, let noreply):
            let result = self.store.withItem(key.bytes) { item, newCAS, context in
                Self.applyDelta(to: &item, delta: delta, increment: increment, newCAS: newCAS, now: context.now)
            }
            switch result {
            case .value(let value): self.reply(.number(value), noreply: noreply, into: &out)
            case .notFound: self.reply(.notFound, noreply: noreply, into: &out)
            case .notANumber: self.reply(.error(Self.nonNumeric), noreply: noreply, into: &out)
            }
        case .touch(let key, let ttl, let noreply):
            let touched = self.store.withItem(key.bytes) { item, _, context in
                context.statistics.touches += 1
                item?.expiry = expiryTime(ttl: ttl, now: context.now)
                return item != nil
            }
            self.reply(touched ? .touched : .notFound, noreply: noreply, into: &out)
        case .flushAll(let delay, let noreply):
            self.store.flush(delay: max(delay ?? 0, 0))
            self.reply(.ok, noreply: noreply, into: &out)
        case .version:
            self.reply(.version(Self.version), noreply: false, into: &out)
        case .verbosity(_, let noreply):
            self.reply(.ok, noreply: noreply, into: &out)
        case .stats(let argument):
            self.stats(argument, into: &out)
        case .meta(let meta):
            self.meta(meta, into: &out)
        case .metaBatch(let batch):
            for meta in batch { self.meta(meta, into: &out) }
        case .quit:
            return .close
        }
        return .goOn
    }

    func reply(_ response: MemcacheResponse, noreply: Bool, into out: inout ByteBuffer) {
        guard !noreply else { return }
        MemcacheResponseEncoder().encode(response, into: &out)
    }

    static let nonNumeric = MemcacheError(.clientError, "cannot increment or decrement non-numeric value")

    // MARK: get, gets, gat, gats

    private func get(_ keys: [MemcacheKey], touch ttl: Int?, withCAS: Bool, into out: inout ByteBuffer) {
        for key in keys {
            // Only what the reply needs leaves the lock (copying the whole item would retain
            // and release its key too).
            let found = self.store.withItem(key.bytes) {
                item, _, context -> (value: ByteBuffer, flags: UInt32, cas: UInt64)? in
                guard var hit = item.take() else {
                    context.statistics.getMisses += 1
                    return nil
                }
                context.statistics.getHits += 1
                if let ttl {
                    context.statistics.touches += 1
                    hit.expiry = expiryTime(ttl: ttl, now: context.now)
                }
                hit.fetched = true
                hit.lastAccess = context.now
                defer { item = hit }
                return (hit.value, hit.flags, hit.cas)
            }
            guard let found else { continue }
            out.writeMemcacheValue(
                key: key.bytes, flags: found.flags, cas: withCAS ? found.cas : nil, value: found.value)
        }
        out.writeString("END\r\n")
    }

    // MARK: set, add, replace, append, prepend, cas

    private func store(_ request: MemcacheStore) -> MemcacheResponse {
        let key = request.key.bytes
        guard key.count + request.value.readableBytes + StoredItem.overhead <= self.store.maximumItemSize else {
            // memcached drops the old item too when a new one cannot be stored.
            self.store.withItem(key) { item, _, _ in item = nil }
            return .error(MemcacheError(.serverError, "out of memory storing object"))
        }
        return self.store.withItem(key) { item, newCAS, context -> MemcacheResponse in
            context.statistics.sets += 1
            let fresh = StoredItem(
                key: key, value: request.value, flags: request.flags,
                expiry: expiryTime(ttl: request.ttl, now: context.now), cas: newCAS, storedAt: context.now,
                lastAccess: context.now)
            switch request.mode {
            case .set:
                item = fresh
            case .add:
                guard item == nil else { return .notStored }
                item = fresh
            case .replace:
                guard item != nil else { return .notStored }
                item = fresh
            case .append, .prepend:
                guard var existing = item else { return .notStored }
                existing.value = Self.joined(existing.value, request.value, append: request.mode == .append)
                existing.cas = newCAS
                item = existing
            case .cas(let expected):
                guard let existing = item else { return .notFound }
                guard existing.cas == expected else { return .exists }
                item = fresh
            }
            return .stored
        }
    }

    static func joined(_ old: ByteBuffer, _ new: ByteBuffer, append: Bool) -> ByteBuffer {
        var combined = ByteBuffer(capacity: old.readableBytes + new.readableBytes)
        combined.writeImmutableBuffer(append ? old : new)
        combined.writeImmutableBuffer(append ? new : old)
        return combined
    }

    // MARK: incr, decr

    enum DeltaResult: Equatable {
        case value(UInt64)
        case notFound, notANumber
    }

    /// memcached's arithmetic: the value must be decimal digits; increments wrap at 2^64,
    /// decrements stop at 0. A shorter result is padded with spaces to the old length (the
    /// item is rewritten in place, as memcached does).
    static func applyDelta(to item: inout StoredItem?, delta: UInt64, increment: Bool, newCAS: UInt64, now: Int)
        -> DeltaResult
    {
        guard var existing = item else { return .notFound }
        let view = existing.value.readableBytesView
        guard let current = Self.decimal(view) else { return .notANumber }
        let result = increment ? current &+ delta : (delta > current ? 0 : current - delta)
        var digits = ByteBuffer(capacity: 20)
        digits.writeDecimal(result)
        if digits.readableBytes < existing.value.readableBytes {
            digits.writeBytes(
                repeatElement(UInt8(ascii: " "), count: existing.value.readableBytes - digits.readableBytes))
        }
        existing.value = digits
        existing.cas = newCAS
        existing.lastAccess = now
        item = existing
        return .value(result)
    }

    /// Leading decimal digits up to the first space or the end (memcached's `strtoull`
    /// accepts a number padded by an earlier decrement); anything else is not a number.
    private static func decimal(_ bytes: ByteBufferView) -> UInt64? {
        UInt64(memcacheDecimal: bytes.prefix { $0 != UInt8(ascii: " ") })
    }
}
