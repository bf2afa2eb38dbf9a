public import Channels

/// A deadline for every memcache call a piece of code makes: waiting for a connection and
/// for the reply together. Past it the caller gets `MemcacheError` with code `.timeout`.
///
/// The deadline is the task's (a task-local value), so it reaches every command and every
/// sender — a `MemcachePool`, a `MemcacheServerSet` and its pools, a `MemcacheConnection`,
/// the cache policies' several round trips — without a parameter on each. Nested scopes keep
/// the earlier deadline.
///
/// A call that times out while its request is on the wire leaves the connection as a
/// cancelled call does: the reply is read and dropped when it comes, and the connection
/// serves the next caller (the pool's `responseTimeout` still closes a connection whose
/// server stays silent). The pool's own `leaseTimeout` and `responseTimeout` still apply
/// when they end sooner.
///
/// ```swift
/// // This request has 20 ms left of its budget: a slow cache must not make it late.
/// let cached = try? await MemcacheDeadline.within(.milliseconds(20)) {
///     try await pool.get("user:42")
/// }
/// ```
public enum MemcacheDeadline {
    /// The deadline of the calls made by the current task, if one was set.
    @TaskLocal public static var current: Deadline?

    /// Runs `body` with every memcache call in it bounded by `timeout` from now (or by the
    /// deadline already in force, when that is sooner).
    public static func within<T>(
        _ timeout: TimeAmount, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async rethrows -> T {
        try await self.until(.now() + timeout, isolation: isolation, body)
    }

    /// Runs `body` with every memcache call in it bounded by `deadline` (or by the deadline
    /// already in force, when that is sooner).
    public static func until<T>(
        _ deadline: Deadline, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async rethrows -> T {
        let effective = self.current.map { min($0, deadline) } ?? deadline
        return try await self.$current.withValue(effective, operation: body, isolation: isolation)
    }

    /// The error of a call whose deadline passed: code `.timeout`, with a cause that tells it
    /// from a server's silence (a server set must not hold the caller's budget against the
    /// server).
    static func passed(_ stage: String) -> MemcacheError {
        MemcacheError(.timeout, "the call's deadline passed \(stage)", cause: Passed())
    }

    /// The cause of a call's `.timeout` when its own deadline passed.
    struct Passed: Error, CustomStringConvertible {
        var description: String { "the caller's deadline (MemcacheDeadline) passed" }
    }
}
