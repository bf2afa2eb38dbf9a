public import Channels
public import Codecs
public import Logging

/// Several memcached servers behind one client: each key lives on the server that
/// libmemcached's ketama placement names (see `KetamaRing`), each server has its own
/// `MemcachePool`.
///
/// Thread-safe. With `.failFast`, a call for a key whose server is down fails (fast, through
/// that pool's breaker) and other servers are unaffected. With `.rehash`, a server whose
/// connects fail is left out for `retryAfter`, and its keys go where the ring of the remaining
/// servers puts them (as libmemcached does with auto-eject), until it is tried again.
///
/// ```swift
/// let servers = MemcacheServerSet(
///     servers: [("10.0.0.1", 11211), ("10.0.0.2", 11211), ("10.0.0.3", 11211)], group: group)
/// try await servers.set("user:42", to: ByteBuffer(string: "Ada"))
/// let name = try await servers.get("user:42")
/// ```
public final class MemcacheServerSet: Sendable {
    public enum FailurePolicy: Sendable, Equatable {
        /// A down server's keys fail (fast); they never move.
        case failFast
        /// A down server's keys move to the next server on the ring for `retryAfter`.
        case rehash(retryAfter: TimeAmount)
    }

    public let servers: [(host: String, port: Int)]
    public let pools: [MemcachePool]
    public let failurePolicy: FailurePolicy
    private let ring: KetamaRing
    private let logger: Logger
    /// Servers left out by `.rehash`, until when; and the ring without them.
    private let ejected = LockedValue<(until: [Int: Deadline], ring: KetamaRing?, members: [Int])>(([:], nil, []))

    /// - Parameters:
    ///   - servers: host and port of each memcached, spelled as other clients spell them
    ///     (the spelling is part of the placement).
    ///   - maxConnectionsPerServer: the connections of each server's pool.
    ///   - group: the loops every pool runs on.
    ///   - failurePolicy: what a server that cannot be reached does to its keys.
    ///   - logger: where the set logs ejections and returns (warning, info); each server's pool
    ///     logs through it too unless `configure` sets its own.
    ///   - configure: adjusts each server's pool configuration (TLS, limits, timeouts).
    public init(
        servers: [(host: String, port: Int)],
        maxConnectionsPerServer: Int = 8,
        group: EventLoopGroup,
        failurePolicy: FailurePolicy = .failFast,
        logger: Logger = Logger(label: "swift-channels.memcache-server-set"),
        configure: (inout MemcachePool.Configuration) -> Void = { _ in }
    ) {
        self.servers = servers
        self.failurePolicy = failurePolicy
        self.ring = KetamaRing(servers: servers)
        self.logger = logger
        self.pools = servers.map { server in
            var configuration = MemcachePool.Configuration(host: server.host, port: server.port, maxConnections: maxConnectionsPerServer)
            configuration.pool.logger = logger
            configure(&configuration)
            return MemcachePool(configuration: configuration, group: group)
        }
    }

    /// The index of the server that holds `key` now (its ketama placement, or under
    /// `.rehash` its placement among the servers not left out).
    public func serverIndex(for key: MemcacheKey) -> Int {
        let primary = self.ring.serverIndex(for: key.bytes)
        guard case .rehash = self.failurePolicy else { return primary }
        return self.ejected.withLock { state -> Int in
            let now = Deadline.now()
            let expired = state.until.filter { $0.value <= now }.map(\.key)
            if !expired.isEmpty {
                for index in expired {
                    state.until[index] = nil
                    self.logger.info("server back on the ring, to be tried again", metadata: ["server": "\(self.name(of: index))"])
                }
                state.ring = nil
            }
            guard state.until[primary] != nil else { return primary }
            if state.ring == nil {
                state.members = self.servers.indices.filter { state.until[$0] == nil }
                state.ring = state.members.isEmpty ? nil : KetamaRing(servers: state.members.map { self.servers[$0] })
            }
            guard let ring = state.ring else { return primary }
            return state.members[ring.serverIndex(for: key.bytes)]
        }
    }

    /// The pool of the server that holds `key`.
    public func pool(for key: MemcacheKey) -> MemcachePool {
        self.pools[self.serverIndex(for: key)]
    }

    /// Runs `command` on the pool for `key`; under `.rehash`, a server that cannot be
    /// reached is left out and the command runs once more where the key now lives.
    public func withPool<T: Sendable>(for key: MemcacheKey, _ command: (MemcachePool) async throws -> T) async throws -> T {
        let index = self.serverIndex(for: key)
        do {
            return try await command(self.pools[index])
        } catch let error as MemcacheError where error.code == .connectFailed {
            guard case .rehash(let retryAfter) = self.failurePolicy else { throw error }
            self.ejected.withLock { state in
                if state.until[index] == nil {
                    self.logger.warning(
                        "server ejected: its keys go to the other servers for a while",
                        metadata: ["server": "\(self.name(of: index))", "retry_after": "\(retryAfter)", "error": "\(error)"])
                }
                state.until[index] = Deadline.now() + retryAfter
                state.ring = nil
            }
            let next = self.serverIndex(for: key)
            guard next != index else { throw error }
            return try await command(self.pools[next])
        }
    }

    public func get(_ key: MemcacheKey) async throws -> ByteBuffer? {
        try await self.withPool(for: key) { try await $0.get(key) }
    }

    public func set(_ key: MemcacheKey, to value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws {
        try await self.withPool(for: key) { try await $0.set(key, to: value, flags: flags, ttl: ttl) }
    }

    public func delete(_ key: MemcacheKey) async throws -> Bool {
        try await self.withPool(for: key) { try await $0.delete(key) }
    }

    /// The values of every present key: one multi-get per server, concurrently.
    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        var byServer: [Int: [MemcacheKey]] = [:]
        for key in keys { byServer[self.serverIndex(for: key), default: []].append(key) }
        return try await withThrowingTaskGroup(of: [MemcacheKey: ByteBuffer].self) { tasks in
            for (index, keys) in byServer {
                let pool = self.pools[index]
                tasks.addTask { try await pool.getMany(keys) }
            }
            var found: [MemcacheKey: ByteBuffer] = [:]
            for try await part in tasks { found.merge(part) { first, _ in first } }
            return found
        }
    }

    // The same with `String` keys (checked as `MemcacheKey(_:)` checks them; an invalid one
    // throws `MemcacheError.invalidKey` before anything is sent).

    public func get(_ key: String) async throws -> ByteBuffer? {
        try await self.get(MemcacheKey(key))
    }

    public func set(_ key: String, to value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws {
        try await self.set(MemcacheKey(key), to: value, flags: flags, ttl: ttl)
    }

    public func delete(_ key: String) async throws -> Bool {
        try await self.delete(MemcacheKey(key))
    }

    /// The values of every present key, by the keys as given.
    public func getMany(_ keys: [String]) async throws -> [String: ByteBuffer] {
        let checked = try keys.map { try MemcacheKey($0) }
        let found = try await self.getMany(checked)
        var byText: [String: ByteBuffer] = [:]
        for (text, key) in zip(keys, checked) { if let value = found[key] { byText[text] = value } }
        return byText
    }

    private func name(of index: Int) -> String {
        "\(self.servers[index].host):\(self.servers[index].port)"
    }

    /// Shuts every server's pool down, all at once (so within one `deadline`, not one each).
    public func shutdown(deadline: TimeAmount = .seconds(10)) async {
        await withTaskGroup(of: Void.self) { tasks in
            for pool in self.pools { tasks.addTask { await pool.shutdown(deadline: deadline) } }
        }
    }
}
