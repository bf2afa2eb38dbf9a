public import Channels
public import Codecs
public import Logging
import Synchronization

/// A small spare pool that takes a failing server's keys until the server returns, with a
/// short TTL, so that a dead server's share of the load does not fall on the database
/// behind the cache (Facebook's "gutter" pool; mcrouter and meta-memcache have one).
///
/// Thread-safe. Every call goes to `primary` first; a call that fails for the host's sake
/// (connect, timeout, closed connection, an ejected server — not an error reply) is sent to
/// `gutter` instead, with every TTL it carries capped at `maximumTTL` (a store without a
/// TTL gets the cap). Keys are split by server first when `primary` is a
/// `MemcacheServerSet`, so only the failing server's keys move. Build that set with
/// `failurePolicy: .failFast`: its ejection then sends a dead server's keys to the gutter
/// at once, and its probe brings them back when the server answers.
///
/// What it does not promise: a server that was only unreachable (not restarted) still holds
/// the values it had when it returns; what was written or deleted meanwhile went to the
/// gutter only. The short TTL bounds how long the gutter's values live, not how stale the
/// returning server's are: keep TTLs short where that matters, or flush a server that
/// returns from a long partition.
///
/// ```swift
/// let ring = MemcacheServerSet(servers: servers, group: group, failurePolicy: .failFast)
/// let spare = MemcachePool(configuration: .init(host: "10.0.9.1", port: 11211), group: group)
/// let cache = MemcacheGutterRoute(primary: ring, gutter: spare, maximumTTL: 10)
/// try await cache.set("user:42", to: ByteBuffer(string: "Ada"), ttl: 300)  // 10 s if it lands in the gutter
/// ```
public final class MemcacheGutterRoute: MemcacheRequestSender {
    public let primary: any MemcacheRequestSender
    public let gutter: any MemcacheRequestSender
    /// The longest TTL (seconds) an item gets in the gutter.
    public let maximumTTL: Int
    public var wireProtocol: MemcacheProtocol { self.primary.wireProtocol }
    private let logger: Logger
    private let guttered = Atomic<Int>(0)

    /// - Parameters:
    ///   - primary: where every call goes first (a `MemcacheServerSet` with `.failFast`, a
    ///     pool, a replicated route).
    ///   - gutter: where the calls the primary's servers cannot take go instead.
    ///   - maximumTTL: the cap on every TTL sent to the gutter (at least 1 s).
    ///   - logger: where calls sent to the gutter are logged (debug).
    public init(
        primary: any MemcacheRequestSender, gutter: any MemcacheRequestSender, maximumTTL: Int = 10,
        logger: Logger = Logger(label: "swift-channels.memcache-gutter", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.primary = primary
        self.gutter = gutter
        self.maximumTTL = max(1, maximumTTL)
        self.logger = logger
    }

    /// How many calls (or per-server parts of multi-key calls) went to the gutter.
    public var gutteredCalls: Int { self.guttered.load(ordering: .relaxed) }

    // MARK: MemcacheRequestSender

    /// Sends `request` to the primary, or to the gutter (TTLs capped) when the primary's
    /// server fails. `flush_all` and `verbosity` go to both.
    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        switch request.routing {
        case .multiGet(let keys, let command):
            let parts = try await self.perServer(keys) { keys in
                try await self.withGutter(request.commandName) { sender, inGutter in
                    try await sender.send(inGutter ? self.capped(command(keys)) : command(keys))
                }
            }
            return try MemcacheResponse.mergedItems(parts, command: request.commandName)
        case .batch(let batch):
            return try await self.sendBatch(batch) { _ in }
        case .everyServer:
            async let gutter = self.gutter.send(request)
            let response = try await self.primary.send(request)
            _ = try await gutter
            return response
        case .single:
            return try await self.withGutter(request.commandName) { sender, inGutter in
                try await sender.send(inGutter ? self.capped(request) : request)
            }
        }
    }

    public func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        let parts = try await self.perServer(requests.compactMap(\.key)) { keys in
            let part = requests.part(for: keys)
            // Buffered, so a primary that fails halfway leaves no replies behind.
            return try await self.withGutter("a batch") { sender, inGutter in
                let replies = LockedValue<[MemcacheResponse]>([])
                let sent = inGutter ? part.map(self.capped) : part
                _ = try await sender.sendBatch(sent) { reply in replies.withLock { $0.append(reply) } }
                return replies.withLock { $0 }
            }
        }
        for reply in parts.joined() { onReply(reply) }
        return .meta(MemcacheMetaResponse(status: .noop))
    }

    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        guard !keys.isEmpty else { return [:] }
        let parts = try await self.perServer(keys) { keys in
            try await self.withGutter("getMany") { sender, _ in try await sender.getMany(keys) }
        }
        return parts.reduce(into: [:]) { found, part in found.merge(part) { first, _ in first } }
    }

    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        let parts = try await self.perServer(commands.compactMap(\.key)) { keys in
            let here = Set(keys)
            let part = commands.filter { $0.key.map(here.contains) ?? false }
            return try await self.withGutter("setMany/deleteMany") { sender, inGutter in
                try await sender.writeMany(inGutter ? part.map(self.capped) : part, limits: limits)
            }
        }
        return parts.reduce(into: [:]) { failures, part in failures.merge(part) { first, _ in first } }
    }

    // MARK: Routing

    /// `operation` on the primary; on the gutter (told so) when the primary's server failed.
    private func withGutter<T: Sendable>(
        _ what: @autoclosure () -> String,
        _ operation: (any MemcacheRequestSender, _ inGutter: Bool) async throws -> T
    ) async throws -> T {
        do {
            return try await operation(self.primary, false)
        } catch let error as MemcacheError where MemcacheServerSet.isHostFailure(error) {
            self.guttered.add(1, ordering: .relaxed)
            self.logger.debug(
                "the primary failed: the gutter takes the call", metadata: ["call": "\(what())", "error": "\(error)"])
            return try await operation(self.gutter, true)
        }
    }

    /// Runs `operation` once per primary server's share of `keys` (one share unless the
    /// primary is a server set), concurrently.
    private func perServer<T: Sendable>(
        _ keys: [MemcacheKey], _ operation: @escaping @Sendable ([MemcacheKey]) async throws -> T
    ) async throws -> [T] {
        guard let set = self.primary as? MemcacheServerSet else { return [try await operation(keys)] }
        var shares: [Int: [MemcacheKey]] = [:]
        for key in keys { shares[set.serverIndex(for: key), default: []].append(key) }
        if shares.count <= 1 { return [try await operation(keys)] }
        return try await withThrowingTaskGroup(of: T.self) { tasks in
            for share in shares.values { tasks.addTask { try await operation(share) } }
            var results: [T] = []
            for try await result in tasks { results.append(result) }
            return results
        }
    }
}
