public import Channels
public import Codecs
import Synchronization

/// A small local cache of the few keys every request reads (a feature flag, a configuration
/// blob, a celebrity's profile), so that one memcached server is not asked for the same key
/// tens of thousands of times a second (meta-memcache's hot cache, memcached issue #611).
///
/// Thread-safe. Opt-in, and deliberately narrow:
/// - **Only hot keys**: reads are sampled (one in `sampleEvery`); a key whose sampled reads
///   reach `hotAfter` within `window` is hot, and its next value read is kept.
/// - **Briefly**: a kept value is served for `ttl` (at most 2 s), then read again. That is the
///   staleness callers accept: a value changed by another client, or through another loop,
///   can be seen up to `ttl` late. A write or delete through this cache on the same loop
///   drops the loop's copy at once.
/// - **Per event loop, without a lock**: each loop of `group` has its own cache, used by the
///   callers running on it (the pool's callers on loops); a caller on no loop of the group
///   reads through, uncached.
/// - **Bounded**: at most `maximumEntries` values and `maximumBytes` of them per loop.
///
/// Only `get` (a meta `mg <key> v`, or a text `get` of one key) is served from the cache;
/// every other command goes through.
///
/// ```swift
/// let hot = MemcacheHotKeyCache(over: pool, group: group)          // 1 s, 64 keys per loop
/// let flags = try await hot.get("feature-flags")                    // a server read, at most once a second per loop once hot
/// print(hot.statistics.hits, hot.statistics.misses)
/// ```
public final class MemcacheHotKeyCache: MemcacheRequestSender {
    /// What is cached, for how long, and how a key becomes hot.
    public struct Configuration: Sendable {
        /// How long a kept value is served; at most 2 s.
        public var ttl: TimeAmount = .seconds(1)
        /// Values kept per loop.
        public var maximumEntries = 64
        /// Bytes of values kept per loop (a larger value is never kept).
        public var maximumBytes = 4 << 20
        /// One read in this many is counted.
        public var sampleEvery = 8
        /// Counted reads within `window` that make a key hot.
        public var hotAfter = 4
        /// The period over which reads are counted.
        public var window: TimeAmount = .seconds(1)

        public init() {}
    }

    /// Reads answered from the cache, and reads that went to the server, since the start.
    public struct Statistics: Sendable, Equatable {
        public var hits: Int
        public var misses: Int
        /// Values kept now, all loops together (read on each loop: approximate while running).
        public var entries: Int
    }

    public let base: any MemcacheRequestSender
    public let configuration: Configuration
    public var wireProtocol: MemcacheProtocol { self.base.wireProtocol }
    private let group: EventLoopGroup
    private let caches: [LoopBound<HotKeyLoopCache>]
    /// Each loop's counters (one object per loop, so loops do not share a cache line).
    private let counters: [LoopCounters]

    private final class LoopCounters: Sendable {
        let hits = Atomic<Int>(0)
        let misses = Atomic<Int>(0)
        let entries = Atomic<Int>(0)
    }

    /// - Parameters:
    ///   - base: where reads and writes go.
    ///   - group: the loops whose callers the cache serves (the pool's group).
    ///   - configuration: the limits; `ttl` is capped at 2 s.
    public init(over base: any MemcacheRequestSender, group: EventLoopGroup, configuration: Configuration = .init()) {
        var configuration = configuration
        configuration.ttl = min(max(configuration.ttl, .zero), .seconds(2))
        configuration.sampleEvery = max(configuration.sampleEvery, 1)
        configuration.hotAfter = max(configuration.hotAfter, 1)
        configuration.maximumEntries = max(configuration.maximumEntries, 1)
        self.base = base
        self.configuration = configuration
        self.group = group
        let now = Deadline.now()
        self.caches = group.loops.map {
            LoopBound(HotKeyLoopCache(configuration: configuration, now: now), eventLoop: $0)
        }
        self.counters = group.loops.map { _ in LoopCounters() }
    }

    public var statistics: Statistics {
        Statistics(
            hits: self.counters.reduce(0) { $0 + $1.hits.load(ordering: .relaxed) },
            misses: self.counters.reduce(0) { $0 + $1.misses.load(ordering: .relaxed) },
            entries: self.counters.reduce(0) { $0 + $1.entries.load(ordering: .relaxed) })
    }

    // MARK: MemcacheRequestSender

    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        guard let loop = self.group.current else { return try await self.base.send(request) }
        let cache = self.caches[loop.index].value
        if let key = Self.cacheableKey(request) {
            let now = loop.now
            if let value = cache.value(of: key, now: now) {
                self.counters[loop.index].hits.wrappingAdd(1, ordering: .relaxed)
                return Self.response(to: request, key: key, value: value)
            }
            guard cache.read(key, now: now) else {
                self.counters[loop.index].misses.wrappingAdd(1, ordering: .relaxed)
                return try await self.base.send(request)
            }
            if cache.isFilling(key) {
                // Another caller on this loop is reading the hot key now: take its value.
                let value = await withCheckedContinuation { cache.wait(for: key, $0) }
                if let value {
                    self.counters[loop.index].hits.wrappingAdd(1, ordering: .relaxed)
                    return Self.response(to: request, key: key, value: value)
                }
                self.counters[loop.index].misses.wrappingAdd(1, ordering: .relaxed)
                return try await self.base.send(request)
            }
            self.counters[loop.index].misses.wrappingAdd(1, ordering: .relaxed)
            cache.startFilling(key)
            let response: MemcacheResponse
            do {
                response = try await self.base.send(request)
            } catch {
                self.finishFilling(key, value: nil, on: loop)
                throw error
            }
            self.finishFilling(key, value: Self.value(in: response), on: loop)
            return response
        }
        for key in Self.writtenKeys(request) { cache.remove(key) }
        self.counters[loop.index].entries.store(cache.count, ordering: .relaxed)
        return try await self.base.send(request)
    }

    public func sendBatch(
        _ requests: [MemcacheMetaRequest], onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        if let loop = self.group.current {
            let cache = self.caches[loop.index].value
            for request in requests where request.command != .get { if let key = request.key { cache.remove(key) } }
        }
        return try await self.base.sendBatch(requests, onReply: onReply)
    }

    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        try await self.base.getMany(keys)
    }

    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        if let loop = self.group.current {
            let cache = self.caches[loop.index].value
            for command in commands { if let key = command.key { cache.remove(key) } }
        }
        return try await self.base.writeMany(commands, limits: limits)
    }

    /// Ends the read of `key` on `loop`'s cache (hopping there when the caller resumed
    /// elsewhere): keeps the value and wakes the callers that waited for it.
    private func finishFilling(_ key: MemcacheKey, value: ByteBuffer?, on loop: SelectableEventLoop) {
        let cache = self.caches[loop.index]
        let counters = self.counters[loop.index]
        let finish: @Sendable () -> Void = {
            cache.value.finishFilling(key, value: value, now: loop.now)
            counters.entries.store(cache.value.count, ordering: .relaxed)
        }
        if loop.inEventLoop { finish() } else { loop.execute(finish) }
    }

    // MARK: Which requests

    /// The key of a plain get of one key (`mg <key> v`, or text `get <key>`), else nil.
    static func cacheableKey(_ request: MemcacheRequest) -> MemcacheKey? {
        switch request {
        case .meta(let meta) where meta.command == .get:
            guard meta.flags.count == 1, meta.flags[0].letter == UInt8(ascii: "v"), meta.flags[0].token.isEmpty
            else { return nil }
            return meta.key
        case .get(let keys, let withCAS) where !withCAS && keys.count == 1:
            return keys[0]
        default:
            return nil
        }
    }

    /// The keys a request may change.
    static func writtenKeys(_ request: MemcacheRequest) -> [MemcacheKey] {
        switch request {
        case .store(let store): return [store.key]
        case .delete(let key, _), .arithmetic(let key, _, _, _), .touch(let key, _, _): return [key]
        case .meta(let meta): return meta.command == .get && !meta.flags.isEmpty ? [] : meta.key.map { [$0] } ?? []
        case .metaBatch(let batch): return batch.compactMap(\.key)
        case .getAndTouch(_, let keys, _): return keys
        default: return []
        }
    }

    private static func value(in response: MemcacheResponse) -> ByteBuffer? {
        switch response {
        case .meta(let meta) where meta.status == .value: return meta.value ?? ByteBuffer()
        case .values(let items) where items.count == 1: return items[0].value
        default: return nil
        }
    }

    /// The reply the server would have sent `request` for `value`.
    private static func response(to request: MemcacheRequest, key: MemcacheKey, value: ByteBuffer) -> MemcacheResponse {
        if case .get = request { return .values([MemcacheItem(key: key.bytes, flags: 0, cas: nil, value: value)]) }
        return .meta(MemcacheMetaResponse(status: .value, value: value))
    }
}
