public import Channels
public import Codecs

/// A key prefix on every command, so that several applications (or versions of one) share a
/// cluster without seeing each other's keys (php-memcached's `OPT_PREFIX_KEY`).
///
/// Thread-safe. Every key a command carries — single and multi-key commands, quiet batches,
/// the policies and bulk writes built on them — gets the prefix before it leaves, and every
/// key a reply carries (`get`'s `VALUE` lines, a meta reply's `k`) loses it again, so the
/// application sees its own keys only. The 250-byte key limit applies to the prefixed key
/// (`MemcacheError.invalidKey` otherwise, nothing sent). `flush_all` is refused
/// (`invalidArgument`): memcached empties the whole server, every namespace, so send it to the
/// pool itself if that is what you mean. `stats`, `version` and `verbosity` go through as they
/// are.
///
/// ```swift
/// let pool = MemcachePool(host: "10.0.0.1", port: 11211, maxConnections: 8, group: group)
/// let billing = try MemcacheNamespace("billing:", over: pool)
/// let search = try MemcacheNamespace("search:v2:", over: pool)
/// try await billing.set("user:42", to: ByteBuffer(string: "paid"))   // stored as billing:user:42
/// let none = try await search.get("user:42")                           // nil: another namespace
/// ```
public final class MemcacheNamespace: MemcacheRequestSender {
    /// The prefix, as bytes.
    public let prefix: [UInt8]
    public let base: any MemcacheRequestSender
    public var wireProtocol: MemcacheProtocol { self.base.wireProtocol }

    /// - Parameters:
    ///   - prefix: 1 to 200 bytes with no space and no control byte (it is part of every key).
    ///   - base: where the prefixed commands go (a pool, a set, a route).
    /// - Throws: `MemcacheError.invalidArgument` for a prefix that cannot be part of a key.
    public init(_ prefix: String, over base: any MemcacheRequestSender) throws {
        let bytes = Array(prefix.utf8)
        guard (1...200).contains(bytes.count), (try? MemcacheKey(textBytes: bytes)) != nil else {
            throw MemcacheError(
                .invalidArgument, "a key prefix is 1 to 200 bytes with no space or control byte, not '\(prefix)'")
        }
        self.prefix = bytes
        self.base = base
    }

    // MARK: MemcacheRequestSender

    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        try self.outside(try await self.base.send(try self.inside(request)))
    }

    public func sendBatch(
        _ requests: [MemcacheMetaRequest], onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        let inside = try requests.map(self.inside)
        return try await self.base.sendBatch(inside) { reply in
            // A reply whose key cannot be ours is passed on as it came (it names no key of ours).
            onReply((try? self.outside(reply)) ?? reply)
        }
    }

    public func getItem(_ key: MemcacheKey) async throws -> MemcacheItem? {
        guard var item = try await self.base.getItem(try self.inside(key)) else { return nil }
        item.key = key.bytes
        return item
    }

    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        let (inside, outside) = try self.translated(keys)
        let found = try await self.base.getMany(inside)
        var result: [MemcacheKey: ByteBuffer] = [:]
        for (key, value) in found { if let own = outside[key] { result[own] = value } }
        return result
    }

    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        let (_, outside) = try self.translated(commands.compactMap(\.key))
        let failures = try await self.base.writeMany(try commands.map(self.inside), limits: limits)
        var result: [MemcacheKey: MemcacheError] = [:]
        for (key, error) in failures { if let own = outside[key] { result[own] = error } }
        return result
    }

    // MARK: Keys in, keys out

    /// `key` with the prefix. - Throws: `MemcacheError.invalidKey` when it becomes too long.
    func inside(_ key: MemcacheKey) throws -> MemcacheKey {
        key.isBinary ? try .binary(self.prefix + key.bytes) : try MemcacheKey(textBytes: self.prefix + key.bytes)
    }

    /// The prefixed keys, and the way back from each.
    private func translated(_ keys: [MemcacheKey]) throws -> ([MemcacheKey], [MemcacheKey: MemcacheKey]) {
        var inside: [MemcacheKey] = []
        inside.reserveCapacity(keys.count)
        var outside: [MemcacheKey: MemcacheKey] = [:]
        for key in keys {
            let prefixed = try self.inside(key)
            inside.append(prefixed)
            outside[prefixed] = key
        }
        return (inside, outside)
    }

    func inside(_ meta: MemcacheMetaRequest) throws -> MemcacheMetaRequest {
        var meta = meta
        if let key = meta.key { meta.key = try self.inside(key) }
        return meta
    }

    func inside(_ request: MemcacheRequest) throws -> MemcacheRequest {
        switch request {
        case .get(let keys, let withCAS): return .get(keys: try keys.map(self.inside), withCAS: withCAS)
        case .getAndTouch(let ttl, let keys, let withCAS):
            return .getAndTouch(ttl: ttl, keys: try keys.map(self.inside), withCAS: withCAS)
        case .store(var store):
            store.key = try self.inside(store.key)
            return .store(store)
        case .delete(let key, let noreply): return .delete(key: try self.inside(key), noreply: noreply)
        case .arithmetic(let key, let delta, let increment, let noreply):
            return .arithmetic(key: try self.inside(key), delta: delta, increment: increment, noreply: noreply)
        case .touch(let key, let ttl, let noreply): return .touch(key: try self.inside(key), ttl: ttl, noreply: noreply)
        case .meta(let meta): return .meta(try self.inside(meta))
        case .metaBatch(let batch): return .metaBatch(try batch.map(self.inside))
        case .flushAll:
            throw MemcacheError(
                .invalidArgument,
                "flush_all empties the whole server, every namespace: send it to the pool itself if you mean that")
        case .version, .verbosity, .stats, .quit: return request
        }
    }

    /// `response` with the prefix taken off the keys it carries. A key without the prefix is
    /// another namespace's, which a reply to our request cannot carry: `unexpectedResponse`.
    func outside(_ response: MemcacheResponse) throws -> MemcacheResponse {
        switch response {
        case .values(let items):
            return .values(
                try items.map { item in
                    var item = item
                    item.key = try self.stripped(item.key)
                    return item
                })
        case .meta(let meta):
            guard let key = meta.key else { return response }
            let own = try self.stripped(key)
            let binary = meta.flags.contains { $0.letter == UInt8(ascii: "b") }
            let token = binary ? try MemcacheKey.binary(own).wireBytes : own
            let flags = try meta.flags.map { flag in
                flag.letter == UInt8(ascii: "k")
                    ? try MemcacheMetaFlag(letter: "k", token: String(decoding: token, as: UTF8.self)) : flag
            }
            return .meta(MemcacheMetaResponse(status: meta.status, flags: flags, value: meta.value))
        default:
            return response
        }
    }

    private func stripped(_ key: [UInt8]) throws -> [UInt8] {
        guard key.count > self.prefix.count, key.starts(with: self.prefix) else {
            throw MemcacheError(
                .unexpectedResponse,
                "a reply carries the key \(String(decoding: key, as: UTF8.self)), outside the namespace")
        }
        return Array(key.dropFirst(self.prefix.count))
    }
}
