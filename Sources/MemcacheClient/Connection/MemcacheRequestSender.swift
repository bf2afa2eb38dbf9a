public import Channels
import Codecs

/// Anything that sends memcache requests and returns their responses: a
/// `MemcacheConnection`, or a pool of them. Every command (`get`, `set`, `delete`, …) is
/// written once, on top of these two requirements.
///
/// Thread-safe: implementations may be called from any task.
///
/// ```swift
/// func warm(_ cache: some MemcacheRequestSender) async throws {
///     try await cache.set("greeting", to: ByteBuffer(string: "hello"))
/// }
/// ```
public protocol MemcacheRequestSender: Sendable {
    /// Sends `request` and waits for its response. Server error replies throw
    /// `MemcacheError`.
    func send(_ request: MemcacheRequest) async throws -> MemcacheResponse

    /// Sends meta commands in quiet mode closed by `mn`: `onReply` receives each reply the
    /// quiet mode keeps (misses of `md`, hits of `mg`, errors), then the `MN` is returned.
    /// An `mn` (`.noop`) inside the batch is a fence: its `MN` goes to `onReply` too, so that
    /// a reply can be tied to the commands before it (memcached's error lines carry neither
    /// key nor opaque).
    func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse

    /// The value stored under `key`, or nil on a miss. A requirement (with a default built on
    /// `send`) so that a sender with a faster way is used by generic code.
    func get(_ key: MemcacheKey) async throws -> ByteBuffer?

    /// The value, client flags and CAS of `key`, or nil on a miss. A requirement (with a
    /// default built on `send`) so that a sender with a faster way is used by generic code.
    func getItem(_ key: MemcacheKey) async throws -> MemcacheItem?

    /// The values of every key that is present, in one round trip. A requirement (with a
    /// default built on `send`) so that a sender with a faster way is used by generic code.
    func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer]

    /// Sends meta commands that each have a key (the sets of `setMany`, the deletes of
    /// `deleteMany`) in quiet exchanges within `limits`, and returns the failures by key. A
    /// requirement (with a default built on `sendBatch`) so that a sender that spreads keys
    /// over servers splits them first: the default ties each reply to its key by its
    /// position in one exchange.
    func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]

    /// The commands the server speaks; the everyday commands pick their wire form by it.
    /// `.meta` unless the sender says otherwise.
    var wireProtocol: MemcacheProtocol { get }
}

extension MemcacheRequestSender {
    public var wireProtocol: MemcacheProtocol { .meta }
}

/// The outcome of a compare-and-swap.
public enum MemcacheCASResult: Sendable, Equatable {
    case stored
    /// Someone changed the item since `cas` was read.
    case exists
    case notFound
}
