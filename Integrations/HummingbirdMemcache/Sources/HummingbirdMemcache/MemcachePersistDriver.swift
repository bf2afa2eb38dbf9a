import Codecs
import Foundation
public import Hummingbird
public import MemcacheClient

/// Hummingbird's key-value persistence (`PersistDriver`) in memcached, through a
/// `MemcachePool` — or any `MemcacheRequestSender`: a `MemcacheServerSet`, one connection.
/// Hummingbird's sessions (`SessionMiddleware` of hummingbird-auth) and caches then live in
/// memcached, shared by every instance of the app.
///
/// Values are stored as JSON, as `MemcacheJSON` stores them (its client flags mark them);
/// `create` is memcached's `add` (an existing key throws `PersistError.duplicate`); `set`
/// without an expiry keeps the expiry the key already has, as `PersistDriver` asks; a value
/// that does not decode as the type asked for throws `PersistError.invalidConversion`.
/// Expiries are whole seconds, rounded up (memcached's resolution); one over 30 days is sent
/// as the absolute time memcached expects for those. Keys are memcache keys: at most 250
/// bytes, no spaces or control characters (`MemcacheError` with code `.invalidKey` otherwise,
/// and nothing is sent).
///
/// The driver does not own the cache: run the pool as a service of the app's `ServiceGroup`
/// (it is one), and it shuts down with the app.
///
/// ```swift
/// let cache = MemcachePool(host: "127.0.0.1", port: 11211, group: group)
/// let persist = MemcachePersistDriver(cache: cache)
/// let router = Router(context: BasicSessionRequestContext<UUID, User>.self)
/// router.addMiddleware { SessionMiddleware(storage: persist) }
/// var app = Application(router: router)
/// app.addServices(cache)
/// try await app.runService()
/// ```
public struct MemcachePersistDriver<Cache: MemcacheRequestSender>: PersistDriver {
    /// Where the values live.
    public let cache: Cache

    public init(cache: Cache) {
        self.cache = cache
    }

    public func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let stored = try await self.cache.add(
            MemcacheKey(key), value: MemcacheJSON(value).memcacheBytes(), flags: MemcacheJSON<Object>.memcacheFlags,
            ttl: expires.map(Self.memcacheTTL) ?? 0)
        guard stored else { throw PersistError.duplicate }
    }

    public func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let memcacheKey = try MemcacheKey(key)
        let ttl: Int
        if let expires {
            ttl = Self.memcacheTTL(expires)
        } else {
            // Keep the expiry the key has (memcached resets it on every store): read what is
            // left of it first. Another writer in between may change it; memcached has no
            // store that keeps the old expiry.
            ttl = try await self.remainingTTL(memcacheKey).map(Self.memcacheTTL) ?? 0
        }
        try await self.cache.set(memcacheKey, value: MemcacheJSON(value), ttl: ttl)
    }

    public func get<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> Object? {
        do {
            return try await self.cache.get(MemcacheKey(key), as: MemcacheJSON<Object>.self)?.value
        } catch let error as MemcacheError where error.code == .typeMismatch {
            throw PersistError.invalidConversion
        }
    }

    public func getWithTTL<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> (
        object: Object, ttl: Duration?
    )? {
        let reply = try await self.cache.send(
            .meta(.get(MemcacheKey(key), flags: [.returnValue, .returnTTL])))
        guard case .meta(let meta) = reply, meta.status == .value, let bytes = meta.value else { return nil }
        let ttl = meta.ttl.flatMap { $0 < 0 ? nil : Duration.seconds($0) }
        guard let decoded = try? MemcacheJSON<Object>(memcacheBytes: bytes) else {
            throw PersistError.invalidConversion
        }
        return (decoded.value, ttl)
    }

    public func remove(key: String) async throws {
        _ = try await self.cache.delete(MemcacheKey(key))
    }

    // MARK: Values and times

    /// What is left of `key`'s expiry: nil when it has none, or is not there.
    private func remainingTTL(_ key: MemcacheKey) async throws -> Duration? {
        let reply = try await self.cache.send(.meta(.get(key, flags: [.returnTTL])))
        guard case .meta(let meta) = reply, meta.status == .headerOnly || meta.status == .value,
            let seconds = meta.ttl, seconds >= 0
        else { return nil }
        // A key with under a second left reads 0, which memcached would take for "never".
        return .seconds(max(seconds, 1))
    }

    /// Memcached reads an expiry over 30 days as an absolute Unix time.
    static var relativeLimit: Int { 60 * 60 * 24 * 30 }

    /// `expires` as memcached's expiry: whole seconds, rounded up; in the past or now, -1
    /// (expired at once, where 0 would mean never); over 30 days, the absolute time, at the
    /// latest memcached's last 32-bit one (2038-01-19: the client sends no later).
    static func memcacheTTL(_ expires: Duration) -> Int {
        let (seconds, attoseconds) = expires.components
        let latest = Int(Int32.max)
        // Capped before any sum, so `.seconds(.max)` cannot overflow.
        let whole = seconds >= Int64(latest) ? latest : Int(seconds) + (attoseconds > 0 ? 1 : 0)
        if whole <= 0 { return -1 }
        if whole > Self.relativeLimit { return min(Int(Date().timeIntervalSince1970) + whole, latest) }
        return whole
    }

}
