public import Channels
public import Codecs
public import Logging
import Pool
import Synchronization

/// Several memcached servers behind one client: each key lives on the server that
/// libmemcached's weighted ketama placement names (see `KetamaRing`), each server has its own
/// `MemcachePool`, and the set speaks every command of `MemcacheRequestSender`.
///
/// Thread-safe. A single-key command goes to its key's server; a multi-key one (`getMany`, a
/// text multi-get, a quiet batch) is split by server, sent to each concurrently and merged.
/// `flush_all` and `verbosity` go to every server; `stats` and `version` have no key to place
/// them by (use `statsByServer(_:)`).
///
/// Failures: a server that fails `ejection.failureLimit` calls in a row (connect failures,
/// timeouts, broken connections) is ejected for `ejection.retryAfter`, then probed with
/// `version`; it returns only when the probe answers, and one that keeps failing is left out
/// longer each time (see `MemcacheEjectionPolicy`). Meanwhile its keys follow the
/// `failurePolicy`: `.failFast` fails them at once (`MemcacheError.connectFailed`), `.rehash`
/// moves them to where the ring of the remaining servers puts them, as libmemcached's
/// auto-eject does. The call that hits the limit with nothing sent (a failed connect) goes
/// there too.
///
/// `update(servers:)` changes the servers while calls run: unchanged servers keep their
/// pools, removed ones are drained (their calls in flight finish), new ones join the ring.
///
/// ```swift
/// let cache = MemcacheServerSet(
///     servers: [.init(host: "10.0.0.1"), .init(host: "10.0.0.2"), .init(host: "10.0.0.3", weight: 2)],
///     group: group, failurePolicy: .rehash)
/// try await cache.set("user:42", to: ByteBuffer(string: "Ada"))
/// let name = try await cache.get("user:42")
/// ```
public final class MemcacheServerSet: MemcacheRequestSender {

    public let failurePolicy: FailurePolicy
    public let ejection: MemcacheEjectionPolicy
    /// The commands the servers speak (from `configure`; the same for every server).
    public let wireProtocol: MemcacheProtocol
    private let group: EventLoopGroup
    private let configure: @Sendable (inout MemcachePool.Configuration) -> Void
    /// The TLS context of `replaceTLS(with:)`, for pools made after it (nil: never replaced).
    private let replacedTLS = LockedValue<TLSContext??>(nil)
    private let maxConnectionsPerServer: Int
    private let logger: Logger
    let state: LockedValue<Topology>

    /// - Parameters:
    ///   - servers: the servers, with their weights.
    ///   - maxConnectionsPerServer: the connections of each server's pool.
    ///   - group: the loops every pool runs on.
    ///   - failurePolicy: where an ejected server's keys go.
    ///   - ejection: when a server is ejected, and for how long.
    ///   - logger: where the set logs ejections (warning), returns and updates (info); each
    ///     server's pool logs through it too unless `configure` sets its own.
    ///   - configure: adjusts each server's pool configuration (TLS, protocol, limits,
    ///     timeouts); also used for servers that `update(servers:)` adds.
    public init(
        servers: [Server],
        maxConnectionsPerServer: Int = 8,
        group: EventLoopGroup,
        failurePolicy: FailurePolicy = .failFast,
        ejection: MemcacheEjectionPolicy = MemcacheEjectionPolicy(),
        logger: Logger = Logger(
            label: "swift-channels.memcache-server-set", factory: { _ in SwiftLogNoOpLogHandler() }),
        configure: @escaping @Sendable (inout MemcachePool.Configuration) -> Void = { _ in }
    ) {
        self.failurePolicy = failurePolicy
        self.ejection = ejection
        self.group = group
        self.configure = configure
        self.maxConnectionsPerServer = maxConnectionsPerServer
        self.logger = logger
        var template = MemcachePool.Configuration(host: "", port: 0)
        configure(&template)
        self.wireProtocol = template.wireProtocol
        self.state = LockedValue(Topology(servers: [], members: []))
        let members = servers.map(self.makeMember)
        self.state.withLock { $0 = Topology(servers: servers, members: members) }
    }

    /// Servers of weight 1, as `(host, port)` pairs.
    public convenience init(
        servers: [(host: String, port: Int)],
        maxConnectionsPerServer: Int = 8,
        group: EventLoopGroup,
        failurePolicy: FailurePolicy = .failFast,
        ejection: MemcacheEjectionPolicy = MemcacheEjectionPolicy(),
        logger: Logger = Logger(
            label: "swift-channels.memcache-server-set", factory: { _ in SwiftLogNoOpLogHandler() }),
        configure: @escaping @Sendable (inout MemcachePool.Configuration) -> Void = { _ in }
    ) {
        self.init(
            servers: servers.map { Server(host: $0.host, port: $0.port) },
            maxConnectionsPerServer: maxConnectionsPerServer,
            group: group, failurePolicy: failurePolicy, ejection: ejection, logger: logger, configure: configure)
    }

    private func makeMember(_ server: Server) -> Member {
        var configuration = MemcachePool.Configuration(
            host: server.host, port: server.port, maxConnections: self.maxConnectionsPerServer)
        configuration.pool.logger = self.logger
        self.configure(&configuration)
        if let replaced = self.replacedTLS.withLock({ $0 }) { configuration.tls = replaced }
        return Member(address: server.address, pool: MemcachePool(configuration: configuration, group: self.group))
    }

    /// Connects every server's new connections with `context`, also those of servers added
    /// later by `update(servers:)`; open connections keep theirs until they close. See
    /// `MemcachePool.replaceTLS(with:)`.
    public func replaceTLS(with context: TLSContext?) {
        self.replacedTLS.withLock { $0 = .some(context) }
        for pool in self.pools { pool.replaceTLS(with: context) }
    }

    /// The servers now, in the order given.
    public var servers: [Server] { self.state.withLock { $0.servers } }

    /// Each server's pool now, in the order of `servers`.
    public var pools: [MemcachePool] { self.state.withLock { $0.members.map(\.pool) } }

    // MARK: Placement

    /// The index (into `servers`) of the server that holds `key` now: its ketama placement,
    /// or under `.rehash` while that server is ejected, its placement among the others (0 when
    /// the set has no servers).
    public func serverIndex(for key: MemcacheKey) -> Int {
        let hash = MD5.firstWord(key.bytes)
        return self.state.withLock { self.placement(forHash: hash, in: &$0) }
    }

    /// The pool of the server that holds `key` now (placed and fetched under one lock: an
    /// update may change the servers in between); nil when the set has no servers.
    public func pool(for key: MemcacheKey) -> MemcachePool? {
        let hash = MD5.firstWord(key.bytes)
        return self.state.withLock { topology in
            topology.members.isEmpty ? nil : topology.members[self.placement(forHash: hash, in: &topology)].pool
        }
    }

    private func placement(forHash hash: UInt32, in topology: inout Topology) -> Int {
        let primary = topology.ring.serverIndex(forHash: hash)
        guard self.failurePolicy == .rehash, !topology.health[primary].isActive, let live = topology.liveRing() else {
            return primary
        }
        return live.indices[live.ring.serverIndex(forHash: hash)]
    }

    /// Runs `command` on the pool of `key`'s server, with the set's failure accounting: its
    /// failures count toward ejection, and a command that found nothing sent (a failed
    /// connect, a pool being drained by an update) runs once more where the key lives then.
    public func withPool<T: Sendable>(for key: MemcacheKey, _ command: (MemcachePool) async throws -> T) async throws
        -> T
    {
        try await self.perform(hash: MD5.firstWord(key.bytes), command)
    }

    // MARK: MemcacheRequestSender

    /// Sends `request` where its keys live. A multi-key get is split by server and the items
    /// merged; `flush_all` and `verbosity` go to every server not ejected; `stats`,
    /// `version`, `mn` and `quit` have no key to place them by and throw
    /// `MemcacheError.invalidArgument` (ask each server with `statsByServer(_:)` or `pools`).
    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        switch request.routing {
        case .multiGet(let keys, let command):
            let parts = try await self.performSplit(keys) { pool, keys in try await pool.send(command(keys)) }
            return try MemcacheResponse.mergedItems(parts, command: request.commandName)
        case .batch(let batch):
            return try await self.sendBatch(batch) { _ in }
        case .everyServer:
            try await self.everyActiveServer { _ = try await $0.send(request) }
            return .ok
        case .single:
            guard let key = request.placementKey else {
                throw MemcacheError(
                    .invalidArgument,
                    "\(request.commandName) has no key to choose a server by: ask each one (statsByServer, pools)")
            }
            return try await self.perform(hash: MD5.firstWord(key.bytes)) { try await $0.send(request) }
        }
    }

    /// Sends quiet meta commands, each to its key's server (concurrently, one batch per
    /// server); `onReply` receives every kept reply, then `MN` is returned.
    public func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        _ = try await self.performSplit(requests.compactMap(\.key)) { pool, keys in
            try await pool.sendBatch(requests.part(for: keys), onReply: onReply)
        }
        return .meta(MemcacheMetaResponse(status: .noop))
    }

    /// Each server's commands go to its pool, concurrently; the failures are merged.
    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        let parts = try await self.performSplit(commands.compactMap(\.key)) { pool, keys in
            let here = Set(keys)
            return try await pool.writeMany(commands.filter { $0.key.map(here.contains) ?? false }, limits: limits)
        }
        return parts.reduce(into: [:]) { failures, part in failures.merge(part) { first, _ in first } }
    }

    /// The values of every present key: one multi-get per server, concurrently.
    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        guard !keys.isEmpty else { return [:] }
        let parts = try await self.performSplit(keys) { pool, keys in try await pool.getMany(keys) }
        var found: [MemcacheKey: ByteBuffer] = [:]
        for part in parts { found.merge(part) { first, _ in first } }
        return found
    }

    /// Every server's `stats` (or `stats <argument>`), each server's answer or failure.
    public func statsByServer(_ argument: String? = nil) async -> [Server: Result<[String: String], any Error>] {
        let current = self.state.withLock { topology in zip(topology.servers, topology.members).map { ($0, $1.pool) } }
        return await withTaskGroup(of: (Server, Result<[String: String], any Error>).self) { tasks in
            for (server, pool) in current {
                tasks.addTask {
                    do { return (server, .success(try await pool.stats(argument))) } catch {
                        return (server, .failure(error))
                    }
                }
            }
            var results: [Server: Result<[String: String], any Error>] = [:]
            for await (server, result) in tasks { results[server] = result }
            return results
        }
    }

    private func everyActiveServer(_ command: @escaping @Sendable (MemcachePool) async throws -> Void) async throws {
        let active = self.state.withLock { topology in
            topology.members.indices.filter { topology.health[$0].isActive }.map { topology.members[$0] }
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for member in active { tasks.addTask { try await self.attempt(member, command) } }
            try await tasks.waitForAll()
        }
    }

    // MARK: Routing and failure accounting

    /// Runs `operation` on the server for a key whose ketama hash is `hash`; once more where
    /// the key lives then when nothing was sent and the server was ejected or retired meanwhile.
    private func perform<T: Sendable>(hash: UInt32, _ operation: (MemcachePool) async throws -> T) async throws -> T {
        let member = try self.route(hash: hash)
        do {
            return try await self.attempt(member, operation)
        } catch {
            guard self.mayResend(error, from: member), let next = try? self.route(hash: hash), next !== member else {
                throw error
            }
            return try await self.attempt(next, operation)
        }
    }

    /// `perform` for many keys: split by server, run concurrently, one result per server.
    private func performSplit<T: Sendable>(
        _ keys: [MemcacheKey], avoiding failed: Member? = nil,
        _ operation: @escaping @Sendable (MemcachePool, [MemcacheKey]) async throws -> T
    ) async throws -> [T] {
        var parts: [ObjectIdentifier: (member: Member, keys: [MemcacheKey])] = [:]
        for key in keys {
            let member = try self.route(hash: MD5.firstWord(key.bytes))
            parts[ObjectIdentifier(member), default: (member, [])].keys.append(key)
        }
        if let failed, parts[ObjectIdentifier(failed)] != nil {
            throw MemcacheError(.connectFailed, "\(failed.address) is still where these keys live")
        }
        return try await withThrowingTaskGroup(of: [T].self) { tasks in
            for (member, part) in parts.values {
                tasks.addTask {
                    do {
                        return [try await self.attempt(member, { try await operation($0, part) })]
                    } catch  where failed == nil && self.mayResend(error, from: member) {
                        return try await self.performSplit(part, avoiding: member, operation)
                    }
                }
            }
            var results: [T] = []
            for try await part in tasks { results += part }
            return results
        }
    }

    /// One call on `member`'s pool, counted: a success clears its failure streak (a relaxed
    /// load when there is none), a failure of the host adds to it.
    func attempt<T: Sendable>(_ member: Member, _ operation: (MemcachePool) async throws -> T) async throws -> T {
        do {
            let result = try await operation(member.pool)
            self.counted(member, failure: nil)
            return result
        } catch {
            self.counted(member, failure: error)
            throw error
        }
    }

    /// `attempt`'s accounting, for a call that finished elsewhere (nil: it succeeded).
    func counted(_ member: Member, failure: (any Error)?) {
        if let failure {
            if Self.isHostFailure(failure) { self.noteFailure(member, failure) }
        } else if member.hasFailureStreak.load(ordering: .relaxed) {
            self.noteSuccess(member)
        }
    }

    /// The member for a key's hash, starting the probes that are due (the decision is the
    /// topology's; here it is made under the lock and the probes it asks for are started).
    private func route(hash: UInt32) throws -> Member {
        let (routed, probes) = self.state.withLock { topology in
            topology.route(hash: hash, policy: self.failurePolicy, now: .now())
        }
        for member in probes { self.probe(member) }
        return try routed.get()
    }

    /// Whether a call that failed with `error` on `member` sent nothing and may go where its
    /// key lives now: the connect failed (or no connection could be leased) and the server is
    /// ejected, or the server was removed by an update and its pool is draining.
    private func mayResend(_ error: any Error, from member: Member) -> Bool {
        guard let error = error as? MemcacheError else { return false }
        switch error.code {
        case .shutdown: return member.isRetired.load(ordering: .acquiring)
        case .connectFailed, .poolExhausted: return self.failurePolicy == .rehash
        default: return false
        }
    }

    /// The failures that say a server is down or unreachable (not its error replies, not the
    /// caller's own mistakes, deadline or cancellation).
    static func isHostFailure(_ error: any Error) -> Bool {
        guard let error = error as? MemcacheError, !(error.cause is MemcacheDeadline.Passed) else { return false }
        return [.connectFailed, .timeout, .connectionClosed, .tlsFailure, .poolExhausted, .protocolViolation].contains(
            error.code)
    }

    private func noteSuccess(_ member: Member) {
        self.state.withLock { topology in
            guard let index = topology.index(of: member) else { return }
            topology.health[index].succeeded()
            member.hasFailureStreak.store(false, ordering: .relaxed)
        }
    }

    private func noteFailure(_ member: Member, _ error: any Error) {
        let ejected = self.state.withLock { topology -> (Server, ServerHealth)? in
            guard let index = topology.index(of: member) else { return nil }
            member.hasFailureStreak.store(true, ordering: .relaxed)
            guard case .ejected = topology.health[index].failed(now: .now(), policy: self.ejection) else { return nil }
            topology.healthChanged()
            return (topology.servers[index], topology.health[index])
        }
        guard let (server, health) = ejected else { return }
        self.logger.warning(
            "server ejected",
            metadata: [
                "server": "\(server.address)", "failures": "\(self.ejection.failureLimit)",
                "retry_after": "\(health.hold ?? .zero)",
                "ejections": "\(health.ejections)", "policy": "\(self.failurePolicy)", "error": "\(error)",
            ])
    }

    /// Asks an ejected server for its version; it returns when it answers within the probe
    /// timeout, else it is left out again, for longer.
    func probe(_ member: Member) {
        Task {
            let answered = await Self.answers(member.pool, within: self.ejection.probeTimeout)
            let outcome = self.state.withLock { topology -> (Server, ServerHealth, ServerHealth.Transition)? in
                guard let index = topology.index(of: member) else { return nil }
                let now = Deadline.now()
                let transition =
                    answered
                    ? topology.health[index].probeSucceeded(now: now)
                    : topology.health[index].probeFailed(now: now, policy: self.ejection)
                guard let transition else { return nil }
                if answered { member.hasFailureStreak.store(false, ordering: .relaxed) }
                topology.healthChanged()
                return (topology.servers[index], topology.health[index], transition)
            }
            guard let (server, health, transition) = outcome else { return }
            switch transition {
            case .returned:
                self.logger.info(
                    "server answered its probe and takes its keys back", metadata: ["server": "\(server.address)"])
            case .ejected(let hold):
                self.logger.warning(
                    "probe failed: server left out longer",
                    metadata: [
                        "server": "\(server.address)", "retry_after": "\(hold)", "ejections": "\(health.ejections)",
                    ])
            }
        }
    }

    private static func answers(_ pool: MemcachePool, within timeout: TimeAmount) async -> Bool {
        await withTaskGroup(of: Bool.self) { tasks in
            tasks.addTask { (try? await pool.version()) != nil }
            tasks.addTask {
                try? await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                return false
            }
            let first = await tasks.next() ?? false
            tasks.cancelAll()
            return first
        }
    }

    // MARK: Updates, statistics, shutdown

    /// Replaces the servers while calls run. Servers that stay (same host and port) keep
    /// their pools, connections and health, with the new weight; new ones get pools; the ring
    /// is rebuilt (with ketama, adding a fourth server of equal weight moves about a quarter
    /// of the keys). Removed servers take no new calls; their calls in flight finish, then
    /// their pools shut down (within each pool's `shutdownTimeout`) before this returns. A
    /// call that was about to lease from a removed pool goes where its key lives now.
    public func update(servers: [Server]) async {
        let (retired, added) = self.state.withLock { topology -> ([Member], [Server]) in
            var members: [Member] = []
            var health: [ServerHealth] = []
            var added: [Server] = []
            for server in servers {
                if let index = topology.members.firstIndex(where: { $0.address == server.address }) {
                    members.append(topology.members[index])
                    health.append(topology.health[index])
                } else {
                    members.append(self.makeMember(server))
                    health.append(ServerHealth())
                    added.append(server)
                }
            }
            let kept = Set(members.map(ObjectIdentifier.init))
            let retired = topology.members.filter { !kept.contains(ObjectIdentifier($0)) }
            for member in retired { member.isRetired.store(true, ordering: .releasing) }
            topology.replace(servers: servers, members: members, health: health)
            return (retired, added)
        }
        self.logger.info(
            "servers updated",
            metadata: [
                "added": "\(added.map(\.address))", "removed": "\(retired.map(\.address))",
                "servers": "\(servers.count)",
            ])
        await withTaskGroup(of: Void.self) { tasks in
            for member in retired {
                tasks.addTask { await member.pool.shutdown(deadline: member.pool.configuration.pool.shutdownTimeout) }
            }
        }
    }

    /// Servers of weight 1, as `(host, port)` pairs: see `update(servers:)`.
    public func update(servers: [(host: String, port: Int)]) async {
        await self.update(servers: servers.map { Server(host: $0.host, port: $0.port) })
    }

    /// Each server's state, failures and pool, and their sum.
    public func statistics() async -> Statistics {
        let snapshot = self.state.withLock { topology in
            topology.servers.indices.map { (topology.servers[$0], topology.health[$0], topology.members[$0].pool) }
        }
        var servers: [Statistics.Server] = []
        for (server, health, pool) in snapshot {
            servers.append(
                Statistics.Server(
                    server: server, state: health.state, failureStreak: health.failureStreak,
                    ejections: health.ejections,
                    retryAfter: health.hold, pool: await pool.statistics()))
        }
        return Statistics(servers: servers)
    }

    /// Shuts every server's pool down, all at once (so within one `deadline`, not one each).
    /// Calls made afterwards fail with `MemcacheError.shutdown`.
    public func shutdown(deadline: TimeAmount = .seconds(10)) async {
        let pools = self.state.withLock { topology in
            topology.isShutDown = true
            return topology.members.map(\.pool)
        }
        await withTaskGroup(of: Void.self) { tasks in
            for pool in pools { tasks.addTask { await pool.shutdown(deadline: deadline) } }
        }
    }
}
