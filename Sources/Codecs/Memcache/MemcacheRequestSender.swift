public import Channels

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
    func sendBatch(
        _ requests: [MemcacheMetaRequest],
        onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse

    /// The value, client flags and CAS of `key`, or nil on a miss. A requirement (with a
    /// default built on `send`) so that a sender with a faster way is used by generic code.
    func getItem(_ key: MemcacheKey) async throws -> MemcacheItem?

    /// The values of every key that is present, in one round trip. A requirement (with a
    /// default built on `send`) so that a sender with a faster way is used by generic code.
    func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer]

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

extension MemcacheConnection {
    public typealias CASResult = MemcacheCASResult
}
