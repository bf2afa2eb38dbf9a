import Channels
import Codecs
import DequeModule

/// One event loop's share of a `MemcacheHotKeyCache`: the hot keys' values, and the sampled
/// read counts that decide which keys are hot.
///
/// Loop-confined: used only by callers running on its loop, so it needs no lock. Bounded:
/// at most `maximumEntries` values and `maximumBytes` of them (the oldest entry goes first),
/// and at most `4 × maximumEntries` counted keys per window.
final class HotKeyLoopCache {
    private struct Entry {
        var value: ByteBuffer
        var expires: Deadline
        /// When it was stored, in stores: its place in `order`.
        var sequence: Int
    }

    private let configuration: MemcacheHotKeyCache.Configuration
    private var entries: [MemcacheKey: Entry] = [:]
    /// Store order, oldest first, for eviction; entries removed or stored again since leave
    /// stale places here (skipped, and dropped when the list grows past twice the entries).
    private var order = Deque<(key: MemcacheKey, sequence: Int)>()
    private var stores = 0
    private var bytes = 0
    /// Sampled reads per key in the current window.
    private var counts: [MemcacheKey: Int] = [:]
    private var windowEnds: Deadline
    private var readsUntilSample: Int

    init(configuration: MemcacheHotKeyCache.Configuration, now: Deadline) {
        self.configuration = configuration
        self.windowEnds = now + configuration.window
        self.readsUntilSample = configuration.sampleEvery
    }

    /// The fresh cached value of `key`, if any.
    func value(of key: MemcacheKey, now: Deadline) -> ByteBuffer? {
        guard let entry = self.entries[key] else { return nil }
        guard entry.expires > now else {
            self.remove(key)
            return nil
        }
        return entry.value
    }

    /// Counts a read of `key` (one read in `sampleEvery`); true when the key is hot: its
    /// sampled reads in this window reached `hotAfter`.
    func read(_ key: MemcacheKey, now: Deadline) -> Bool {
        if now >= self.windowEnds {
            self.counts.removeAll(keepingCapacity: true)
            self.windowEnds = now + self.configuration.window
        }
        self.readsUntilSample -= 1
        if self.readsUntilSample <= 0 {
            self.readsUntilSample = self.configuration.sampleEvery
            if self.counts[key] != nil || self.counts.count < 4 * self.configuration.maximumEntries {
                self.counts[key, default: 0] += 1
            }
        }
        return (self.counts[key] ?? 0) >= self.configuration.hotAfter
    }

    /// Keeps `value` for `key` until the TTL passes, making room by evicting the oldest.
    func store(_ value: ByteBuffer, for key: MemcacheKey, now: Deadline) {
        guard value.readableBytes <= self.configuration.maximumBytes else { return }
        self.remove(key)
        while !self.entries.isEmpty,
            self.entries.count >= self.configuration.maximumEntries
                || self.bytes + value.readableBytes > self.configuration.maximumBytes
        {
            self.evictOldest()
        }
        self.stores += 1
        self.entries[key] = Entry(value: value, expires: now + self.configuration.ttl, sequence: self.stores)
        self.order.append((key, self.stores))
        self.bytes += value.readableBytes
        if self.order.count > 2 * self.entries.count + 16 {
            self.order = Deque(self.order.filter { self.entries[$0.key]?.sequence == $0.sequence })
        }
    }

    /// Callers waiting for the read of a hot key already in flight on this loop: one read
    /// per loop, not one per caller, when many ask at once.
    private var filling: [MemcacheKey: [CheckedContinuation<ByteBuffer?, Never>]] = [:]

    /// Whether a read of `key` is in flight; if so, `waiter` gets its value (nil when it
    /// failed or found nothing: then read yourself).
    func isFilling(_ key: MemcacheKey) -> Bool { self.filling[key] != nil }

    func wait(for key: MemcacheKey, _ waiter: CheckedContinuation<ByteBuffer?, Never>) {
        self.filling[key, default: []].append(waiter)
    }

    /// A read of `key` starts: others wait for it.
    func startFilling(_ key: MemcacheKey) { self.filling[key] = [] }

    /// The read of `key` ended with `value` (nil: failed or missed): kept when there is one,
    /// and handed to the callers that waited.
    func finishFilling(_ key: MemcacheKey, value: ByteBuffer?, now: Deadline) {
        if let value { self.store(value, for: key, now: now) }
        for waiter in self.filling.removeValue(forKey: key) ?? [] { waiter.resume(returning: value) }
    }

    /// Forgets `key` (written or deleted through the cache on this loop).
    func remove(_ key: MemcacheKey) {
        guard let entry = self.entries.removeValue(forKey: key) else { return }
        self.bytes -= entry.value.readableBytes
    }

    var count: Int { self.entries.count }

    private func evictOldest() {
        while let oldest = self.order.popFirst() {
            if self.entries[oldest.key]?.sequence == oldest.sequence {
                self.remove(oldest.key)
                return
            }
        }
    }
}
