import Channels
import Codecs

extension MemcachePool {
    /// The value stored under `key`, or nil on a miss (`mg <key> v`), as every sender's `get`.
    ///
    /// The pool's own, for the most common call there is: with no tracing or
    /// `MemcacheDeadline`, `mg <key> v` is written straight from the key into the
    /// connection's turn buffer — no request value made, so the key, the flags and the
    /// request's copy are not retained and released per get (a caller on the pool's loop
    /// with a connection ready there holds nothing else either). Any other call goes through
    /// `send`, and so does the one retry of a get whose connection closed before any byte of
    /// its reply (`retryIdempotent`).
    ///
    /// ```swift
    /// if let value = try await pool.get(MemcacheKey("user:42")) { print(String(buffer: value)) }
    /// ```
    public func get(_ key: MemcacheKey) async throws -> ByteBuffer? {
        guard self.wireProtocol == .meta, !self.isTraced, MemcacheDeadline.current == nil else {
            return try await self.getOffTheFastPath(key)
        }
        // Timed for the metrics out of line: inlined, `timedWithOneRetry` kept the request, the
        // start and a reply or two in this frame across the wait (640 bytes), each a cache line
        // a caller touches when its get resumes — cold, with thousands of callers.
        guard self.operationMetrics == nil else { return try await self.getTimed(key) }
        let response: MemcacheResponse
        do {
            response = try await self.sendValueGetOnce(key, now: nil)
        } catch  where self.configuration.retryIdempotent && Self.closedBeforeReply(error) {
            return try await self.getAgain(key, after: error)
        }
        return try Self.value(ofGet: response)
    }

    /// `get` with the operation metrics on.
    @inline(never)
    private func getTimed(_ key: MemcacheKey) async throws -> ByteBuffer? {
        let response = try await self.timedWithOneRetry(of: Self.valueGetShape) { start in
            try await self.sendValueGetOnce(key, now: start)
        } again: {
            try await self.retryValueGet(key)
        }
        return try Self.value(ofGet: response)
    }

    /// The one retry of an untimed `get` whose connection closed before its reply.
    @inline(never)
    private func getAgain(_ key: MemcacheKey, after error: any Error) async throws -> ByteBuffer? {
        self.logRetry(Self.valueGetShape.commandName, after: error)
        return try Self.value(ofGet: try await self.retryValueGet(key))
    }

    /// `get` through `send` (tracing, a deadline, the text protocols), out of line: inlined,
    /// its locals were in the async frame of every `get`, memory each waiting caller holds
    /// (1,184 → 640 bytes with the retry out of line too: a `swift_task_alloc` uprobe's size
    /// argument).
    @inline(never)
    private func getOffTheFastPath(_ key: MemcacheKey) async throws -> ByteBuffer? {
        try await self.getThroughSend(key)
    }

    /// The one retry of a get whose connection closed before its reply, out of line (as above).
    @inline(never)
    private func retryValueGet(_ key: MemcacheKey) async throws -> MemcacheResponse {
        try await self.sendOnce(.meta(.get(key, flags: MemcacheMetaFlag.valueFlags)), onPartial: nil, deadline: nil)
    }

    /// What every `get` sends, for the metrics and the retry, which read only its kind
    /// (command, how its replies count, whether it may go twice): made once, not per get.
    private static let valueGetShape = MemcacheRequest.meta(.get("k", flags: MemcacheMetaFlag.valueFlags))

    /// `sendOnce` for `get`'s request, written from its key.
    private func sendValueGetOnce(_ key: MemcacheKey, now: Deadline?) async throws -> MemcacheResponse {
        if let leased = self.leaseOnItsLoopIfReady(now: now) {
            return try await MemcacheCall().wait { call in
                // SAFETY: see `leaseOnItsLoopIfReady`: the handler is alive until the lease
                // ends, which is not before this send.
                leased._withUnsafeGuaranteedRef { $0.sendValueGet(key, releasesLease: true, responder: .call(call)) }
            }
        }
        let (pool, isOnItsLoop) = self.homePoolAndWhetherOnItsLoop()
        // The pool moved into the record: held here too, it was kept across the wait and
        // released after it (a retain and a release per get). No lease deadline: the pool's
        // timeout, from when the loop queues the call (if it must).
        let call = PooledMemcacheCall(ValueGetPayload(key: key), pool: consume pool)
        return try await call.hopAndWait(isOnItsLoop: isOnItsLoop)
    }
}
