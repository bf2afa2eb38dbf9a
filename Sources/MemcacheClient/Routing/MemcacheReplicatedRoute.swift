import Channels
public import Codecs
public import Logging
import Synchronization

/// Several copies of every key, so that a dead server costs no reads: writes go to every
/// copy, reads to one, failing over to the next.
///
/// Thread-safe. Two shapes:
/// - **On a ring** (`init(servers:copies:)`): each key lives on `copies` distinct servers of
///   a `MemcacheServerSet` — its ketama server, then the next distinct servers clockwise —
///   so three servers with two copies hold each key twice. The set's ejection applies: a
///   copy on an ejected server is skipped by reads and reported failed by writes at once.
/// - **Everywhere** (`init(copies:)`): each sender (a pool, a set, another route) holds a
///   whole copy, as a pool per availability zone does.
///
/// What it promises:
/// - A **write** (set, add, delete, incr, touch, `ms`/`md`/`ma`) goes to every copy at once
///   and succeeds when `writeQuorum` copies took it; the reply is the first copy's that took
///   it. `write(_:)` also says which copies failed (`send` only counts them, in
///   `statistics()`). Fewer than the quorum: `MemcacheError.quorumNotMet` (none: the first
///   copy's error). The copies that took a failed write keep it.
/// - A **read** (get, gat, `mg`, multi-gets) asks the first available copy and, when it
///   fails for the host's sake (connect, timeout, closed connection — not an error reply),
///   the next one; with `failoverOnMiss`, a miss goes on to the next copy too, and with
///   `writeBackTTL` a value found that way is added (never over a newer one) to the copies
///   that missed it, so a server restarted empty fills up again with the keys it holds the
///   first copy of (the others are read from their first copy, which has them; they return
///   to it when written again).
///
/// What it does not: memcached has no consistency between copies. Copies can differ after
/// a partial write, a concurrent pair of writes to one key may land in different orders on
/// different copies, an `incr` runs once per copy, and `gat`/`mg T` touch only the copy
/// that answered. CAS values differ per copy: a `cas` write succeeds only on the copy that
/// issued the CAS. Use it for data that can be recomputed, as any cache.
///
/// ```swift
/// let ring = MemcacheServerSet(servers: [.init(host: "10.0.0.1"), .init(host: "10.0.0.2"), .init(host: "10.0.0.3")],
///                              group: group)
/// var configuration = MemcacheReplicatedRoute.Configuration()
/// configuration.failoverOnMiss = true
/// configuration.writeBackTTL = 300
/// let cache = MemcacheReplicatedRoute(servers: ring, copies: 2, configuration: configuration)
/// try await cache.set("user:42", to: ByteBuffer(string: "Ada"))   // on two servers
/// let name = try await cache.get("user:42")                       // from either
/// ```
public final class MemcacheReplicatedRoute: MemcacheRequestSender {
    /// How writes count and reads fail over.
    public struct Configuration: Sendable, Equatable {
        /// How many copies must take a write for it to succeed (at least 1; more than the
        /// copies of a key means all of them).
        public var writeQuorum = 1
        /// Whether a read that misses asks the next copy (a copy restarted empty, or one that
        /// was away during a write). Costs a round trip per copy on every true miss.
        public var failoverOnMiss = false
        /// With `failoverOnMiss`: a value found after a miss is added to the copies that
        /// missed it, with the item's remaining TTL capped at this (seconds; the meta
        /// protocol reports the remaining TTL, the text protocol does not, so there the cap
        /// is the TTL). nil: no write-back.
        public var writeBackTTL: Int?

        public init() {}
    }

    /// What the route did, counted since it was made.
    public struct Statistics: Sendable, Equatable {
        /// Reads that went on to another copy after a copy failed.
        public var failovers: Int
        /// Reads that went on to another copy after a miss (`failoverOnMiss`).
        public var missFailovers: Int
        /// Values written back to copies that missed them.
        public var writeBacks: Int
        /// Writes that met the quorum while some copy failed.
        public var partialWrites: Int
        /// Writes that missed the quorum.
        public var failedWrites: Int
    }

    private enum Placement: Sendable {
        case ring(MemcacheServerSet, copies: Int)
        case everywhere([MemcacheCopy])
    }

    public let configuration: Configuration
    public let wireProtocol: MemcacheProtocol
    private let placement: Placement
    private let logger: Logger
    let counters = Counters()

    /// Each key on `copies` distinct servers of `servers`' ring (its own server first).
    ///
    /// - Parameters:
    ///   - servers: the set whose pools, ejection and updates the route uses; build it with
    ///     `failurePolicy: .failFast` (the route does its own failing over).
    ///   - copies: how many servers hold each key (at most the set's servers).
    ///   - configuration: the write quorum and the read failover.
    ///   - logger: where partial writes and write-backs are logged (debug).
    public init(
        servers: MemcacheServerSet, copies: Int = 2, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "swift-channels.memcache-replicated", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.placement = .ring(servers, copies: max(1, copies))
        self.configuration = configuration
        self.wireProtocol = servers.wireProtocol
        self.logger = logger
    }

    /// Each sender holds a whole copy; reads try them in this order. The names (for reports
    /// and logs) are `copy0`, `copy1`, … unless given.
    public init(
        copies: [any MemcacheRequestSender], names: [String]? = nil, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "swift-channels.memcache-replicated", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.placement = .everywhere(
            copies.enumerated().map { index, sender in
                let name = names.flatMap { index < $0.count ? $0[index] : nil } ?? "copy\(index)"
                return MemcacheCopy(name: name, sender: sender, isAvailable: true)
            })
        self.configuration = configuration
        self.wireProtocol = copies.first?.wireProtocol ?? .meta
        self.logger = logger
    }

    /// The copies of `key`, in the order reads try them.
    func copies(of key: MemcacheKey) throws -> [MemcacheCopy] {
        switch self.placement {
        case .ring(let set, let count): return try set.replicas(of: key, count: count)
        case .everywhere(let copies): return try Self.nonEmpty(copies)
        }
    }

    private static func nonEmpty(_ copies: [MemcacheCopy]) throws -> [MemcacheCopy] {
        guard !copies.isEmpty else { throw MemcacheError(.connectFailed, "the replicated route has no copies") }
        return copies
    }

    private static func key(of request: MemcacheRequest) throws -> MemcacheKey {
        guard let key = request.placementKey else {
            throw MemcacheError(.invalidArgument, "\(request.commandName) has no key to choose copies by")
        }
        return key
    }

    /// The names of the copies of `key`, in the order reads try them.
    public func copyNames(of key: MemcacheKey) throws -> [String] {
        try self.copies(of: key).map(\.name)
    }

    public func statistics() -> Statistics {
        self.counters.snapshot()
    }

    // MARK: MemcacheRequestSender

    /// Sends `request` as a read (failing over) or a write (to every copy), by its command.
    /// `flush_all` and `verbosity` go to every copy; `stats`, `version`, `mn` and `quit`
    /// have no key and throw `MemcacheError.invalidArgument`.
    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        switch request.routing {
        case .multiGet(let keys, let command):
            return try await self.multiGet(keys, command)
        case .batch(let batch):
            return try await self.sendBatch(batch) { _ in }
        case .everyServer:
            try await self.everySender { _ = try await $0.send(request) }
            return .ok
        case .single where request.isRead:
            return try await self.read(request)
        case .single:
            let key = try Self.key(of: request)
            switch self.placement {
            case .ring(let set, let count):
                return try await self.write(request, key: key, copies: set.ringCopies(of: key, count: count)).value
            case .everywhere(let copies):
                return try await self.write(request, key: key, copies: Self.nonEmpty(copies)).value
            }
        }
    }

    /// Sends a write to every copy of its key and says which copies took it.
    /// - Throws: `MemcacheError.quorumNotMet` when fewer than `writeQuorum` copies took it
    ///   (none: the first copy's error); `invalidArgument` for a request without one key.
    public func write(_ request: MemcacheRequest) async throws -> MemcacheReplicatedWrite {
        let key = try Self.key(of: request)
        switch self.placement {
        case .ring(let set, let count):
            return try await self.report(request, key: key, copies: set.ringCopies(of: key, count: count))
        case .everywhere(let copies):
            return try await self.report(request, key: key, copies: Self.nonEmpty(copies))
        }
    }

    private func report<Copies: MemcacheCopyList>(_ request: MemcacheRequest, key: MemcacheKey, copies: Copies)
        async throws -> MemcacheReplicatedWrite
    {
        let verdict = try await self.write(request, key: key, copies: copies)
        var written: [String] = []
        var failed: [String: MemcacheError] = [:]
        for slot in 0..<copies.count {
            if let failure = verdict.failures.first(where: { $0.index == slot }) {
                failed[copies.name(slot)] = failure.error
            } else {
                written.append(copies.name(slot))
            }
        }
        return MemcacheReplicatedWrite(response: verdict.value, written: written, failed: failed)
    }

    private func write<Copies: MemcacheCopyList>(_ request: MemcacheRequest, key: MemcacheKey, copies: Copies)
        async throws -> QuorumVerdict<MemcacheResponse>
    {
        let outcomes: [Result<MemcacheResponse, MemcacheError>]
        if let ring = copies as? MemcacheServerSet.RingCopies, ring.count > 1, MemcacheDeadline.current == nil,
            ring.canStart
        {
            outcomes = await Self.writeStarted(request, on: ring)
        } else {
            outcomes = await Self.onEveryCopy(copies) { try await $0.send(request) }
        }
        try Task.checkCancellation()
        return try self.decide(outcomes, copies: copies, what: "\(request.commandName) of \(key)")
    }

    /// `onEveryCopy` for a write on a ring, for less: every copy but the first is started
    /// without a task of its own (`MemcachePool.start`), the first is sent from this task,
    /// then the others' replies are awaited together. (A child task per copy costs its async
    /// frames' allocations and a job on the loop: measured, a replicated set's client CPU
    /// went from 2.46× a plain set's to 1.9×.) A traced pool or a caller's deadline takes
    /// `onEveryCopy` (spans, and the deadline enforced per copy).
    private static func writeStarted(_ request: MemcacheRequest, on copies: MemcacheServerSet.RingCopies) async
        -> [Result<MemcacheResponse, MemcacheError>]
    {
        let others = StartedCopies(count: copies.count)
        for slot in 1..<copies.count { copies.start(slot, request) { others.deliver(slot, $0) } }
        let first = await Self.outcome(copies, 0) { try await $0.send(request) }
        var outcomes = await others.all()
        outcomes[0] = first
        return outcomes
    }

    /// The quorum's verdict on one write's outcomes (in copy order): the first success's value
    /// and the failures, or the error to throw. (Nothing is allocated when every copy took it.)
    func decide<T: Sendable, Copies: MemcacheCopyList>(
        _ outcomes: [Result<T, MemcacheError>], copies: Copies, what: @autoclosure () -> String
    ) throws -> QuorumVerdict<T> {
        var first: T?
        var successes = 0
        var failures: [(index: Int, error: MemcacheError)] = []
        for (index, outcome) in outcomes.enumerated() {
            switch outcome {
            case .success(let value):
                if first == nil { first = value }
                successes += 1
            case .failure(let error): failures.append((index, error))
            }
        }
        let needed = min(max(1, self.configuration.writeQuorum), copies.count)
        let names = { failures.map { "\(copies.name($0.index)): \($0.error)" }.joined(separator: "; ") }
        guard let first, successes >= needed else {
            self.counters.failedWrites.add(1, ordering: .relaxed)
            let firstError = failures.first?.error
            if successes == 0, let firstError { throw firstError }
            throw MemcacheError(
                .quorumNotMet,
                "\(what()) reached \(successes) of \(copies.count) copies, \(needed) needed (\(names()))",
                cause: firstError)
        }
        if !failures.isEmpty {
            self.counters.partialWrites.add(1, ordering: .relaxed)
            self.logger.debug("a write missed some copies", metadata: ["write": "\(what())", "failed": "\(names())"])
        }
        return QuorumVerdict(value: first, failures: failures)
    }

    /// Runs `operation` on every copy at once (the first in this task, the others in child
    /// tasks); an unavailable copy fails at once. Outcomes in copy order. An error that is not
    /// a `MemcacheError` (cancellation) counts as that copy's `connectionClosed`; the caller
    /// checks for cancellation itself.
    static func onEveryCopy<T: Sendable, Copies: MemcacheCopyList>(
        _ copies: Copies, _ operation: @escaping @Sendable (any MemcacheRequestSender) async throws -> T
    ) async -> [Result<T, MemcacheError>] {
        switch copies.count {
        case 0: return []
        case 1: return [await Self.outcome(copies, 0, operation)]
        case 2:
            // The common shape, without a task group's machinery.
            async let second = Self.outcome(copies, 1, operation)
            let first = await Self.outcome(copies, 0, operation)
            return [first, await second]
        default:
            return await withTaskGroup(of: (Int, Result<T, MemcacheError>).self) { tasks in
                for slot in 1..<copies.count {
                    tasks.addTask { (slot, await Self.outcome(copies, slot, operation)) }
                }
                var outcomes = [Result<T, MemcacheError>?](repeating: nil, count: copies.count)
                outcomes[0] = await Self.outcome(copies, 0, operation)
                for await (slot, outcome) in tasks { outcomes[slot] = outcome }
                // Every slot is filled: slot 0 here, each other by its task.
                return outcomes.map { $0 ?? .failure(MemcacheError(.connectionClosed, "no outcome")) }
            }
        }
    }

    static func outcome<T: Sendable, Copies: MemcacheCopyList>(
        _ copies: Copies, _ slot: Int, _ operation: @Sendable (any MemcacheRequestSender) async throws -> T
    ) async -> Result<T, MemcacheError> {
        guard copies.isAvailable(slot) else {
            return .failure(MemcacheError(.connectFailed, "\(copies.name(slot)) is ejected after failing"))
        }
        do { return .success(try await copies.run(slot, operation)) } catch let error as MemcacheError {
            return .failure(error)
        } catch {
            return .failure(MemcacheError(.connectionClosed, "\(copies.name(slot)): \(error)", cause: error))
        }
    }

    // MARK: Reads

    /// Asks the copies of the request's key in turn: on to the next when one fails for the
    /// host's sake, or (with `failoverOnMiss`) misses.
    private func read(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        let key = try Self.key(of: request)
        switch self.placement {
        case .ring(let set, let count):
            return try await self.read(request, key: key, copies: set.ringCopies(of: key, count: count))
        case .everywhere(let copies):
            return try await self.read(request, key: key, copies: Self.nonEmpty(copies))
        }
    }

    private func read<Copies: MemcacheCopyList>(_ request: MemcacheRequest, key: MemcacheKey, copies: Copies)
        async throws -> MemcacheResponse
    {
        var untried = 0
        for slot in 0..<copies.count where copies.isAvailable(slot) { untried += 1 }
        guard untried > 0 else { throw MemcacheError(.connectFailed, "every copy of \(key) is on an ejected server") }
        var missedOn: [MemcacheCopy] = []
        var miss: MemcacheResponse?
        var lastError: MemcacheError?
        for slot in 0..<copies.count where copies.isAvailable(slot) {
            untried -= 1
            let asked = missedOn.isEmpty ? request : self.askingForWriteBack(request)
            let response: MemcacheResponse
            do {
                response = try await copies.run(slot) { try await $0.send(asked) }
            } catch let error as MemcacheError where MemcacheServerSet.isHostFailure(error) {
                lastError = error
                if untried > 0 { self.counters.failovers.add(1, ordering: .relaxed) }
                continue
            }
            guard self.configuration.failoverOnMiss, Self.isMiss(response) else {
                if !missedOn.isEmpty { await self.writeBack(response, key: key, to: missedOn) }
                return response
            }
            miss = response
            missedOn.append(copies.copy(slot))
            if untried > 0 { self.counters.missFailovers.add(1, ordering: .relaxed) }
        }
        // A miss is an answer, even when another copy failed.
        if let miss { return miss }
        throw lastError ?? MemcacheError(.connectFailed, "no copy of \(key) answered")
    }

    static func isMiss(_ response: MemcacheResponse) -> Bool {
        switch response {
        case .end: return true
        case .meta(let meta): return meta.status == .miss
        default: return false
        }
    }

    /// A read sent after a miss, made to return what a write-back needs (flags and the
    /// remaining TTL of a meta get).
    private func askingForWriteBack(_ request: MemcacheRequest) -> MemcacheRequest {
        guard self.configuration.writeBackTTL != nil, case .meta(var meta) = request, meta.command == .get else {
            return request
        }
        for flag in [MemcacheMetaFlag.returnFlags, .returnTTL] where !meta.flags.contains(flag) {
            meta.flags.append(flag)
        }
        return .meta(meta)
    }

    /// Adds the value found in `response` to the copies that missed it (concurrently; a
    /// failure here costs the reader nothing: the copy just stays empty).
    private func writeBack(_ response: MemcacheResponse, key: MemcacheKey, to copies: [MemcacheCopy]) async {
        guard let cap = self.configuration.writeBackTTL else { return }
        let store: MemcacheStore
        switch response {
        case .values(let items) where items.count == 1:
            store = MemcacheStore(mode: .add, key: key, flags: items[0].flags, ttl: cap, value: items[0].value)
        case .meta(let meta) where meta.status == .value:
            guard let value = meta.value else { return }
            let remaining = meta.token("t").flatMap(Int.init) ?? -1
            let flags = meta.token("f").flatMap(UInt32.init) ?? 0
            let ttl = remaining > 0 ? min(remaining, cap) : cap
            store = MemcacheStore(mode: .add, key: key, flags: flags, ttl: ttl, value: value)
        default:
            return
        }
        let outcomes = await Self.onEveryCopy(copies) { try await $0.send(.store(store)) }
        let stored = outcomes.filter { if case .success(.stored) = $0 { return true } else { return false } }.count
        self.counters.writeBacks.add(stored, ordering: .relaxed)
        self.logger.debug(
            "wrote a value back to copies that missed it",
            metadata: ["key": "\(key)", "copies": "\(copies.map(\.name))", "stored": "\(stored)"])
    }

    /// Every distinct sender once (every server of a ring, every copy).
    private func everySender(_ command: @escaping @Sendable (any MemcacheRequestSender) async throws -> Void)
        async throws
    {
        switch self.placement {
        case .ring(let set, _): try await command(set)
        case .everywhere(let copies):
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for copy in copies { tasks.addTask { try await command(copy.sender) } }
                try await tasks.waitForAll()
            }
        }
    }

    final class Counters: Sendable {
        let failovers = Atomic<Int>(0)
        let missFailovers = Atomic<Int>(0)
        let writeBacks = Atomic<Int>(0)
        let partialWrites = Atomic<Int>(0)
        let failedWrites = Atomic<Int>(0)

        func snapshot() -> Statistics {
            Statistics(
                failovers: self.failovers.load(ordering: .relaxed),
                missFailovers: self.missFailovers.load(ordering: .relaxed),
                writeBacks: self.writeBacks.load(ordering: .relaxed),
                partialWrites: self.partialWrites.load(ordering: .relaxed),
                failedWrites: self.failedWrites.load(ordering: .relaxed))
        }
    }
}

/// What a replicated write did: the reply (the first copy's that took it), and which copies
/// took it and which failed, with their errors.
///
/// ```swift
/// let write = try await cache.write(.store(MemcacheStore(mode: .set, key: "k", value: value)))
/// if !write.failed.isEmpty { logger.warning("copies missed a write", metadata: ["failed": "\(write.failed.keys)"]) }
/// ```
public struct MemcacheReplicatedWrite: Sendable {
    /// The reply of the first copy (in copy order) that took the write.
    public var response: MemcacheResponse
    /// The copies that took the write, in copy order.
    public var written: [String]
    /// The copies that did not, with why.
    public var failed: [String: MemcacheError]
}

/// A write's outcome once the quorum has ruled: what the first copy that took it returned,
/// and the copies (by position) that did not take it.
struct QuorumVerdict<Value: Sendable>: Sendable {
    let value: Value
    let failures: [(index: Int, error: MemcacheError)]
}
