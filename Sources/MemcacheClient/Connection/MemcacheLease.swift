public import Channels
import Codecs

/// What a get with a lease found: meta `mg` with `N` (vivify on a miss) and, optionally, `R`
/// (win the recache when the item is about to expire).
///
/// Thread-safe (a value). Of all the callers that ask for a missing, invalidated or expiring
/// key, the server makes exactly one the winner (`W`): that caller recomputes the value and
/// stores it with `storeLeased` (or gives the lease up with `releaseLease`). The others see
/// `isRecomputing` (`Z`) and get the current value, when there is one (stale after an
/// invalidation, fresh before an expiry), or nothing yet (the empty placeholder a vivifying
/// get left: wait and ask again).
///
/// ```swift
/// let lease = try await cache.getWithLease("report", leaseTTL: 30)
/// if lease.isWinner { _ = try await cache.storeLeased("report", value: compute(), lease: lease, ttl: 300) }
/// ```
public struct MemcacheLease: Sendable, Equatable {
    /// The value, nil when there is none: a miss, or the placeholder of a vivifying get. (An
    /// empty value under a lease cannot be told from the placeholder, so it reads as none.)
    public var value: ByteBuffer?
    public var clientFlags: UInt32
    /// The item's CAS: `storeLeased` stores only if nobody changed the item since.
    public var cas: UInt64?
    /// Seconds left before the item expires (-1: never), when the server said.
    public var ttl: Int?
    /// `W`: this caller won the right to recompute and store the value.
    public var isWinner: Bool
    /// `Z`: another caller won it and has not stored yet.
    public var isRecomputing: Bool
    /// `X`: the item was invalidated; its value is stale until the refresh lands.
    public var isStale: Bool

    public init(
        value: ByteBuffer?, clientFlags: UInt32 = 0, cas: UInt64? = nil, ttl: Int? = nil, isWinner: Bool = false,
        isRecomputing: Bool = false, isStale: Bool = false
    ) {
        self.value = value
        self.clientFlags = clientFlags
        self.cas = cas
        self.ttl = ttl
        self.isWinner = isWinner
        self.isRecomputing = isRecomputing
        self.isStale = isStale
    }

    /// The lease a meta reply grants.
    init(_ reply: MemcacheMetaResponse) {
        let isWinner = reply.has("W")
        let isRecomputing = reply.has("Z")
        var value = reply.status == .value ? reply.value : nil
        if let bytes = value, bytes.readableBytes == 0, isWinner || isRecomputing { value = nil }
        self.init(
            value: value, clientFlags: reply.clientFlags ?? 0, cas: reply.cas, ttl: reply.ttl, isWinner: isWinner,
            isRecomputing: isRecomputing, isStale: reply.has("X"))
    }
}

/// How `getOrCompute` leases, waits and serves.
///
/// Thread-safe (a value).
///
/// ```swift
/// var policy = MemcacheComputePolicy()
/// policy.recacheBelow = 10     // refresh in the last 10 s of the TTL, while serving the value
/// policy.waitLimit = .seconds(2)
/// ```
public struct MemcacheComputePolicy: Sendable {
    /// How long (s) the placeholder of a vivifying get lives: a winner that dies without
    /// storing or releasing holds the key this long at most.
    public var leaseTTL = 30
    /// When set, the first reader that sees less than this many seconds left wins an early
    /// recompute, while everybody else keeps getting the current value.
    public var recacheBelow: Int?
    /// Whether callers that did not win get a stale value (after `invalidate`) rather than
    /// wait for the refresh.
    public var servesStale = true
    /// How long a caller that did not win waits for the winner's value before it fails with
    /// `.timeout`.
    public var waitLimit: TimeAmount = .seconds(10)
    /// The first pause between polls for the winner's value; it doubles up to `maximumPoll`.
    public var firstPoll: TimeAmount = .milliseconds(2)
    public var maximumPoll: TimeAmount = .milliseconds(100)

    public init() {}
}

extension MemcacheRequestSender {
    /// A get that leases (see `MemcacheLease`): `mg` with `N<leaseTTL>`, and `R<recacheBelow>`
    /// when given. Meta protocol only.
    public func getWithLease(_ key: MemcacheKey, leaseTTL: Int = 30, recacheBelow: Int? = nil) async throws
        -> MemcacheLease
    {
        try self.requireMeta("getWithLease")
        var flags: [MemcacheMetaFlag] = [.returnValue, .returnFlags, .returnCAS, .returnTTL, .vivify(ttl: leaseTTL)]
        if let recacheBelow { flags.append(.recache(below: recacheBelow)) }
        let response = try await self.send(.meta(.get(key, flags: flags)))
        guard case .meta(let reply) = response else { throw Self.unexpectedLeaseReply(response) }
        switch reply.status {
        case .value: return MemcacheLease(reply)
        case .miss: return MemcacheLease(value: nil)
        default: throw Self.unexpectedLeaseReply(response)
        }
    }

    /// Stores the value a lease's winner computed, only if the item is still the one it
    /// leased (same CAS): false when somebody changed or invalidated it meanwhile (the value
    /// may predate that change, so it is not stored) or it is gone.
    public func storeLeased(
        _ key: MemcacheKey, value: ByteBuffer, lease: MemcacheLease, flags: UInt32 = 0, ttl: Int = 0
    ) async throws -> Bool {
        try self.requireMeta("storeLeased")
        var metaFlags: [MemcacheMetaFlag] = [.ttl(ttl)]
        if flags != 0 { metaFlags.append(.clientFlags(flags)) }
        if let cas = lease.cas { metaFlags.append(.compareCAS(cas)) }
        let response = try await self.send(.meta(.set(key, value: value, flags: metaFlags)))
        guard case .meta(let reply) = response else { throw Self.unexpectedLeaseReply(response) }
        return reply.status == .headerOnly
    }

    /// Gives a won lease up, so that the next caller wins: the placeholder is deleted; a stale
    /// value is invalidated again (it stays served, and the next reader wins the refresh); an
    /// early-recache win needs nothing (the value stays; the item expires as it would have).
    /// Only while the item is still the one leased.
    public func releaseLease(_ key: MemcacheKey, _ lease: MemcacheLease) async throws {
        guard lease.isWinner, let cas = lease.cas else { return }
        if lease.value == nil {
            _ = try await self.send(.meta(.delete(key, flags: [.compareCAS(cas)])))
        } else if lease.isStale {
            _ = try await self.send(.meta(.delete(key, flags: [.invalidate, .compareCAS(cas)])))
        }
    }

    /// Marks `key` stale instead of deleting it (`md` with `I`): readers keep getting the old
    /// value, flagged stale, for up to `staleTTL` seconds, while the first of them wins the
    /// refresh. Returns false when the key was not there. Meta protocol only.
    ///
    /// ```swift
    /// try await cache.invalidate("user:42")   // after writing user 42 to the database
    /// ```
    public func invalidate(_ key: MemcacheKey, staleTTL: Int = 30) async throws -> Bool {
        try self.requireMeta("invalidate")
        let response = try await self.send(.meta(.delete(key, flags: [.invalidate, .ttl(staleTTL)])))
        guard case .meta(let reply) = response else { throw Self.unexpectedLeaseReply(response) }
        switch reply.status {
        case .headerOnly: return true
        case .notFound: return false
        default: throw Self.unexpectedLeaseReply(response)
        }
    }

    /// The value of `key`, computed by exactly one caller when it is missing, however many ask
    /// at once (stampede protection with meta `mg … N`):
    /// - a hit returns the value;
    /// - the one caller that wins the lease runs `compute`, stores its value (unless the item
    ///   changed meanwhile) and returns it; if `compute` throws or its task is cancelled, the
    ///   lease is given back so that another caller can win;
    /// - the others wait for the winner's value (polling, up to `policy.waitLimit`, then
    ///   `.timeout`), or get the current value at once when there is one — stale after
    ///   `invalidate` (unless `policy.servesStale` is off), or about to expire while the
    ///   winner recomputes early (`policy.recacheBelow`).
    ///
    /// Meta protocol only.
    ///
    /// ```swift
    /// let page = try await cache.getOrCompute("page:/home", ttl: 60) {
    ///     try await renderHomePage()   // runs once, however many requests miss together
    /// }
    /// ```
    public func getOrCompute(
        _ key: MemcacheKey, ttl: Int, flags: UInt32 = 0, policy: MemcacheComputePolicy = MemcacheComputePolicy(),
        compute: () async throws -> ByteBuffer
    ) async throws -> ByteBuffer {
        let start = Deadline.now()
        var pause = policy.firstPoll
        while true {
            let lease = try await self.getWithLease(key, leaseTTL: policy.leaseTTL, recacheBelow: policy.recacheBelow)
            if lease.isWinner || (lease.value == nil && !lease.isRecomputing) {
                let value: ByteBuffer
                do {
                    value = try await compute()
                } catch {
                    // Given back even when this task is cancelled: in a task of its own.
                    await Task { try? await self.releaseLease(key, lease) }.value
                    throw error
                }
                if lease.isWinner {
                    _ = try await self.storeLeased(key, value: value, lease: lease, flags: flags, ttl: ttl)
                } else {
                    // No lease was granted (the server could not vivify): store only if still absent.
                    _ = try await self.add(key, value: value, flags: flags, ttl: ttl)
                }
                return value
            }
            if let value = lease.value, !lease.isStale || policy.servesStale {
                return value
            }
            guard Deadline.now() - start < policy.waitLimit else {
                throw MemcacheError(
                    .timeout, "no value for \(key) within \(policy.waitLimit): another caller is computing it")
            }
            try await Task.sleep(for: .nanoseconds(pause.nanoseconds))
            pause = min(pause * 2, policy.maximumPoll)
        }
    }

    private static func unexpectedLeaseReply(_ response: MemcacheResponse) -> MemcacheError {
        if case .error(let error) = response { return error }
        return MemcacheError(.unexpectedResponse, "unexpected reply to a leased get or store: \(response)")
    }
}
