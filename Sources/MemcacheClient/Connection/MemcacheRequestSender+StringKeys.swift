public import Channels
import Codecs

// Every command also takes its key as a `String`, so that keys made at run time read as
// plainly as literals:
//
//     for i in 0..<100 { try await pool.set("user:\(i)", to: ByteBuffer(string: "…")) }
//
// The text is checked as `MemcacheKey(_:)` checks it (1–250 bytes, no space or control
// byte) and an invalid one throws `MemcacheError.invalidKey` before anything is sent.
extension MemcacheRequestSender {
    /// The value stored under `key`, or nil on a miss. - Throws: `MemcacheError`.
    public func get(_ key: String) async throws -> ByteBuffer? {
        try await self.get(MemcacheKey(key))
    }

    /// The value, client flags and CAS of `key`, or nil on a miss.
    public func getItem(_ key: String) async throws -> MemcacheItem? {
        try await self.getItem(MemcacheKey(key))
    }

    /// Gets `key` and sets its TTL (`gat` semantics).
    public func getAndTouch(_ key: String, ttl: Int) async throws -> MemcacheItem? {
        try await self.getAndTouch(MemcacheKey(key), ttl: ttl)
    }

    /// The values of every key that is present, in one round trip, by the keys as given.
    /// Every key is checked before anything is sent.
    public func getMany(_ keys: [String]) async throws -> [String: ByteBuffer] {
        let checked = try keys.map { try MemcacheKey($0) }
        let found = try await self.getMany(checked)
        var byText: [String: ByteBuffer] = [:]
        byText.reserveCapacity(found.count)
        for (text, key) in zip(keys, checked) { if let value = found[key] { byText[text] = value } }
        return byText
    }

    /// Stores `value` under `key`.
    public func set(_ key: String, to value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws {
        try await self.set(MemcacheKey(key), to: value, flags: flags, ttl: ttl)
    }

    /// Stores only if `key` is absent. Returns whether it was stored.
    public func add(_ key: String, value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws -> Bool {
        try await self.add(MemcacheKey(key), value: value, flags: flags, ttl: ttl)
    }

    /// Stores only if `key` is present. Returns whether it was stored.
    public func replace(_ key: String, value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws -> Bool {
        try await self.replace(MemcacheKey(key), value: value, flags: flags, ttl: ttl)
    }

    /// Appends to an existing value. Returns whether the key was present.
    public func append(_ key: String, _ value: ByteBuffer) async throws -> Bool {
        try await self.append(MemcacheKey(key), value)
    }

    /// Prepends to an existing value. Returns whether the key was present.
    public func prepend(_ key: String, _ value: ByteBuffer) async throws -> Bool {
        try await self.prepend(MemcacheKey(key), value)
    }

    /// Stores only if the item's CAS value is still `cas`.
    public func compareAndSwap(_ key: String, value: ByteBuffer, cas: UInt64, flags: UInt32 = 0, ttl: Int = 0)
        async throws -> MemcacheCASResult
    {
        try await self.compareAndSwap(MemcacheKey(key), value: value, cas: cas, flags: flags, ttl: ttl)
    }

    /// `compareAndSwap` by its memcache name.
    public func cas(_ key: String, value: ByteBuffer, cas: UInt64, flags: UInt32 = 0, ttl: Int = 0) async throws
        -> MemcacheCASResult
    {
        try await self.compareAndSwap(MemcacheKey(key), value: value, cas: cas, flags: flags, ttl: ttl)
    }

    /// Deletes `key`. Returns whether it was present.
    public func delete(_ key: String) async throws -> Bool {
        try await self.delete(MemcacheKey(key))
    }

    /// Adds `delta`; returns the new value, or nil when `key` is absent.
    public func increment(_ key: String, by delta: UInt64 = 1) async throws -> UInt64? {
        try await self.increment(MemcacheKey(key), by: delta)
    }

    /// Subtracts `delta` (stopping at 0); returns the new value, or nil when `key` is absent.
    public func decrement(_ key: String, by delta: UInt64 = 1) async throws -> UInt64? {
        try await self.decrement(MemcacheKey(key), by: delta)
    }

    /// Sets a new TTL. Returns whether `key` was present.
    public func touch(_ key: String, ttl: Int) async throws -> Bool {
        try await self.touch(MemcacheKey(key), ttl: ttl)
    }
}
