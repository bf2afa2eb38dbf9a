public import Channels
import Codecs

// The cache policies (`getOrCompute`, leases, `invalidate`, bulk writes, typed values) with
// keys as `String`s, checked as `MemcacheKey(_:)` checks them (`.invalidKey`, nothing sent).
extension MemcacheRequestSender {
    /// `getOrCompute` (see there) with a `String` key.
    public func getOrCompute(
        _ key: String, ttl: Int, flags: UInt32 = 0, policy: MemcacheComputePolicy = MemcacheComputePolicy(),
        compute: () async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        try await self.getOrCompute(MemcacheKey(key), ttl: ttl, flags: flags, policy: policy, compute: compute)
    }

    /// `getWithLease` (see there) with a `String` key.
    public func getWithLease(_ key: String, leaseTTL: Int = 30, recacheBelow: Int? = nil) async throws -> MemcacheLease
    {
        try await self.getWithLease(MemcacheKey(key), leaseTTL: leaseTTL, recacheBelow: recacheBelow)
    }

    /// `invalidate` (see there) with a `String` key.
    public func invalidate(_ key: String, staleTTL: Int = 30) async throws -> Bool {
        try await self.invalidate(MemcacheKey(key), staleTTL: staleTTL)
    }

    /// `setMany` with `String` keys; the failures are by the keys as given.
    public func setMany(
        _ values: [String: ByteBuffer], flags: UInt32 = 0, ttl: Int = 0,
        limits: MemcacheBulkLimits = MemcacheBulkLimits()
    ) async throws -> [String: MemcacheError] {
        var checked: [MemcacheKey: ByteBuffer] = [:]
        checked.reserveCapacity(values.count)
        for (text, value) in values { checked[try MemcacheKey(text)] = value }
        let failures = try await self.setMany(checked, flags: flags, ttl: ttl, limits: limits)
        return Dictionary(
            uniqueKeysWithValues: failures.map { (String(decoding: $0.key.bytes, as: UTF8.self), $0.value) })
    }

    /// `deleteMany` with `String` keys; the failures are by the keys as given.
    public func deleteMany(_ keys: [String], limits: MemcacheBulkLimits = MemcacheBulkLimits()) async throws -> [String:
        MemcacheError]
    {
        let failures = try await self.deleteMany(keys.map { try MemcacheKey($0) }, limits: limits)
        return Dictionary(
            uniqueKeysWithValues: failures.map { (String(decoding: $0.key.bytes, as: UTF8.self), $0.value) })
    }

    /// A typed `set` (see there) with a `String` key.
    public func set<Value: MemcacheValueCodable>(_ key: String, value: Value, ttl: Int = 0) async throws {
        try await self.set(MemcacheKey(key), value: value, ttl: ttl)
    }

    /// A typed `get` (see there) with a `String` key.
    public func get<Value: MemcacheValueCodable>(_ key: String, as type: Value.Type) async throws -> Value? {
        try await self.get(MemcacheKey(key), as: type)
    }
}
