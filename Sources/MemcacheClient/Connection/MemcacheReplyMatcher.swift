@_spi(ChannelsCollections) import Channels
import Codecs

/// Which request each reply from a memcache server answers: the client handler's whole
/// bookkeeping, as a value with no I/O and no clock.
///
/// Memcache replies carry no request id; they come back in the order the requests were sent.
/// Most requests get one reply. A quiet meta command (`mg … q`, sent with an `mn` after it)
/// gets either the reply the quiet mode kept or none before the `MN`; a batch of quiet
/// commands closed by `mn` gets any number of replies, then its last `MN` (an `mn` inside the
/// batch — a fence — answers `MN` too, which must not end it). A `noreply` request gets
/// nothing: it is done once its bytes are written. When the connection fails, every request
/// in flight fails, and only those none of whose reply had arrived may be sent again.
///
/// `MemcacheClientHandler` feeds it events (`expect`, `received`, `written`, `fail`) and
/// carries out what they return; `Waiter` is whatever the handler must call back (tests use
/// plain values). Once failed, it stays failed: later requests are refused with the same
/// error and later bytes are ignored.
struct MemcacheReplyMatcher<Waiter> {
    /// What reply a request gets.
    enum Expected {
        /// One reply.
        case one
        /// Replies until the last `MN`: those before it (including the `MN` of each of the
        /// `fences` still to come) go to `onPartial`; the last `MN` completes the request.
        case untilNoop(onPartial: (@Sendable (MemcacheResponse) -> Void)?, fences: Int)
        /// One quiet meta command followed by `mn`: the reply the quiet mode kept, or when it
        /// kept none, the status it suppressed (`EN` for `mg`, `HD` otherwise).
        case quiet(suppressed: MemcacheMetaResponse.Status, kept: MemcacheResponse?)
    }

    /// What to do with a reply.
    enum Step {
        /// The oldest request is answered by the reply just received: complete its waiter
        /// with it. (Neither the reply nor the waiter is copied out: the request is handed
        /// over whole, and the reply stays the caller's.)
        case finished(Pending)
        /// The oldest request (a quiet command) is answered by this reply instead: the one
        /// held for it, or the status its quiet mode suppressed.
        case finishedWith(Waiter, MemcacheResponse)
        /// A reply inside a batch: hand it to the batch's `onPartial`; the batch waits on.
        case partial((@Sendable (MemcacheResponse) -> Void)?, MemcacheResponse)
        /// A quiet command's reply, held until its `MN`.
        case held
        /// No request waits for it: the stream is out of step and the connection must close.
        case unexpected
        /// The matcher failed already; the reply is dropped.
        case ignored
    }

    /// A request waiting for its reply.
    struct Pending {
        let waiter: Waiter
        var expected: Expected
        /// Part of its reply arrived (a batch's or quiet command's replies): not safe to resend.
        var replyStarted = false
    }

    /// Requests waiting for their replies, oldest first.
    private var waiting = RingQueue<Pending>()
    /// `noreply` requests, done once the bytes of their turn are written.
    private var unwritten: [Waiter] = []
    /// Why the connection ended; nil while it works.
    private(set) var failure: MemcacheError?

    /// How many requests wait for a reply.
    var waitingCount: Int { self.waiting.count }
    /// Whether no request waits for a reply or a write.
    var isClean: Bool { self.waiting.isEmpty && self.unwritten.isEmpty }
    /// Whether `noreply` requests wait for their turn's bytes to be written (`written()`).
    var hasUnwritten: Bool { !self.unwritten.isEmpty }
    /// Whether requests wait for replies on a working connection (the response clock runs).
    var isAwaitingReply: Bool { self.failure == nil && !self.waiting.isEmpty }

    /// Calls `body` with the waiters of the oldest `limit` requests, oldest first, borrowed in
    /// place (for prefetch hints: nothing is copied and nothing changes). `mutating` though it
    /// changes nothing: called non-mutating on the handler's stored matcher, the whole matcher
    /// was copied around the closure (a retain and a release of its queue per call).
    mutating func forOldestWaiters(_ limit: Int, _ body: (borrowing Waiter) -> Void) {
        for offset in 0..<Swift.min(limit, self.waiting.count) { body(self.waiting[offset].waiter) }
    }

    /// Records a sent request that gets `expected` (nil: `noreply`, none). Both are consumed,
    /// so that the caller's waiter is not copied on its way in.
    ///
    /// - Returns: true when it is now the only request waiting for a reply (the response
    ///   clock starts).
    mutating func expect(_ expected: consuming Expected?, for waiter: consuming Waiter) -> Bool {
        guard let expected else {
            self.unwritten.append(waiter)
            return false
        }
        self.waiting.append(Pending(waiter: waiter, expected: expected))
        return self.waiting.count == 1
    }

    /// The `noreply` requests whose bytes are now on their way: each is done (with the
    /// write's outcome). Call when a turn's buffer is handed to the channel.
    mutating func written() -> [Waiter] {
        guard !self.unwritten.isEmpty else { return [] }
        defer { self.unwritten.removeAll() }
        return self.unwritten
    }

    /// Matches one decoded reply to the oldest request waiting.
    mutating func received(_ response: MemcacheResponse) -> Step {
        guard self.failure == nil else { return .ignored }
        guard !self.waiting.isEmpty else { return .unexpected }
        // The usual request has one reply: take it off the queue without copying it first.
        if case .one = self.waiting.first.expected {
            return .finished(self.waiting.removeFirst())
        }
        var first = self.waiting.first
        let isNoop: Bool
        if case .meta(let meta) = response, meta.status == .noop { isNoop = true } else { isNoop = false }
        switch first.expected {
        case .one:
            // Taken above without a copy; kept whole here so no case traps.
            self.waiting.removeFirst()
            return .finished(first)
        case .untilNoop(let onPartial, let fences):
            if isNoop, fences == 0 {
                self.waiting.removeFirst()
                return .finished(first)
            }
            // Written back only when it changes: most replies of a batch change nothing.
            if isNoop || !first.replyStarted {
                if isNoop { first.expected = .untilNoop(onPartial: onPartial, fences: fences - 1) }
                first.replyStarted = true
                self.waiting.first = first
            }
            return .partial(onPartial, response)
        case .quiet(let suppressed, let kept):
            guard isNoop else {
                first.expected = .quiet(suppressed: suppressed, kept: response)
                first.replyStarted = true
                self.waiting.first = first
                return .held
            }
            self.waiting.removeFirst()
            return .finishedWith(first.waiter, kept ?? .meta(MemcacheMetaResponse(status: suppressed)))
        }
    }

    /// The connection failed or closed: every request in flight fails, oldest first, each
    /// with `error` marked `closedBeforeReply` when it is safe to send again (the connection
    /// merely closed and no byte of its reply had arrived). The first failure sticks.
    ///
    /// - Parameter oldestReplyPending: whether bytes of a reply not yet complete were
    ///   buffered (they belong to the oldest request).
    mutating func fail(_ error: MemcacheError, oldestReplyPending: Bool) -> [(Waiter, MemcacheError)] {
        if self.failure == nil { self.failure = error }
        let closedOnly = error.code == .connectionClosed || error.code == .tlsFailure
        var failed: [(Waiter, MemcacheError)] = []
        failed.reserveCapacity(self.waiting.count + self.unwritten.count)
        for (index, entry) in self.waiting.enumerated() {
            let started = entry.replyStarted || (index == 0 && oldestReplyPending)
            failed.append(
                (
                    entry.waiter,
                    MemcacheError(
                        error.code, error.message, cause: error.cause, closedBeforeReply: closedOnly && !started)
                ))
        }
        for waiter in self.unwritten { failed.append((waiter, error)) }
        self.waiting.removeAll()
        self.unwritten.removeAll()
        return failed
    }
}
