public import Channels
public import Codecs

// The commands of `MemcacheConnection`, each on a pooled connection. Idempotent ones are
// retried once on another connection when theirs died before answering.
extension MemcachePool {
    /// The value stored under `key`, or nil on a miss.
    public func get(_ key: MemcacheKey) async throws -> ByteBuffer? {
        try await self.withConnection(idempotent: true) { try await $0.get(key) }
    }

    /// The value, client flags and CAS of `key`, or nil on a miss.
    public func getItem(_ key: MemcacheKey) async throws -> MemcacheItem? {
        try await self.withConnection(idempotent: true) { try await $0.getItem(key) }
    }

    /// The values of every key that is present, in one round trip.
    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        try await self.withConnection(idempotent: true) { try await $0.getMany(keys) }
    }

    /// Stores `value` under `key`.
    public func set(_ key: MemcacheKey, to value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws {
        try await self.withConnection(idempotent: false) { try await $0.set(key, to: value, flags: flags, ttl: ttl) }
    }

    /// Stores only if `key` is absent. Returns whether it was stored.
    public func add(_ key: MemcacheKey, value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws -> Bool {
        try await self.withConnection(idempotent: false) { try await $0.add(key, value: value, flags: flags, ttl: ttl) }
    }

    /// Stores only if `key` is present. Returns whether it was stored.
    public func replace(_ key: MemcacheKey, value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws -> Bool {
        try await self.withConnection(idempotent: false) { try await $0.replace(key, value: value, flags: flags, ttl: ttl) }
    }

    /// Appends to an existing value. Returns whether the key was present.
    public func append(_ key: MemcacheKey, _ value: ByteBuffer) async throws -> Bool {
        try await self.withConnection(idempotent: false) { try await $0.append(key, value) }
    }

    /// Prepends to an existing value. Returns whether the key was present.
    public func prepend(_ key: MemcacheKey, _ value: ByteBuffer) async throws -> Bool {
        try await self.withConnection(idempotent: false) { try await $0.prepend(key, value) }
    }

    /// Stores only if the item's CAS value is still `cas`.
    public func cas(
        _ key: MemcacheKey, value: ByteBuffer, cas: UInt64, flags: UInt32 = 0, ttl: Int = 0
    ) async throws -> MemcacheConnection.CASResult {
        try await self.withConnection(idempotent: false) {
            try await $0.compareAndSwap(key, value: value, cas: cas, flags: flags, ttl: ttl)
        }
    }

    /// Deletes `key`. Returns whether it was present.
    public func delete(_ key: MemcacheKey) async throws -> Bool {
        try await self.withConnection(idempotent: true) { try await $0.delete(key) }
    }

    /// Adds `delta`; returns the new value, or nil when `key` is absent.
    public func increment(_ key: MemcacheKey, by delta: UInt64 = 1) async throws -> UInt64? {
        try await self.withConnection(idempotent: false) { try await $0.increment(key, by: delta) }
    }

    /// Subtracts `delta` (not below 0); returns the new value, or nil when `key` is absent.
    public func decrement(_ key: MemcacheKey, by delta: UInt64 = 1) async throws -> UInt64? {
        try await self.withConnection(idempotent: false) { try await $0.decrement(key, by: delta) }
    }

    /// Sets the TTL of `key`. Returns whether it was present.
    public func touch(_ key: MemcacheKey, ttl: Int) async throws -> Bool {
        try await self.withConnection(idempotent: true) { try await $0.touch(key, ttl: ttl) }
    }

    /// Invalidates every item (on the one connection's server).
    public func flushAll(delay: Int? = nil) async throws {
        try await self.withConnection(idempotent: true) { try await $0.flushAll(delay: delay) }
    }

    /// The server's version string.
    public func version() async throws -> String {
        try await self.withConnection(idempotent: true) { try await $0.version() }
    }

    /// The server's statistics, name to value.
    public func stats(_ argument: String? = nil) async throws -> [String: String] {
        try await self.withConnection(idempotent: true) { try await $0.stats(argument) }
    }
}
