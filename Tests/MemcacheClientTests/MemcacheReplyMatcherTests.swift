import Channels
import Codecs
import Testing

@testable import MemcacheClient

/// `MemcacheReplyMatcher` on its own: every event in every state, no channel.
@Suite("Memcache reply matcher")
struct MemcacheReplyMatcherTests {
    typealias Matcher = MemcacheReplyMatcher<String>

    static let hit = MemcacheResponse.meta(MemcacheMetaResponse(status: .value, value: ByteBuffer(string: "v")))
    static let stored = MemcacheResponse.meta(MemcacheMetaResponse(status: .headerOnly))
    static let noop = MemcacheResponse.meta(MemcacheMetaResponse(status: .noop))
    static let miss = MemcacheResponse.meta(MemcacheMetaResponse(status: .miss))

    /// The step for `response`, written so `#expect` can compare it.
    static func step(_ matcher: inout Matcher, _ response: MemcacheResponse) -> String {
        switch matcher.received(response) {
        case .finished(let pending): return "finished \(pending.waiter) \(response)"
        case .finishedWith(let waiter, let reply): return "finished \(waiter) \(reply)"
        case .partial(_, let reply): return "partial \(reply)"
        case .held: return "held"
        case .unexpected: return "unexpected"
        case .ignored: return "ignored"
        }
    }

    static func finished(_ waiter: String, _ reply: MemcacheResponse) -> String { "finished \(waiter) \(reply)" }

    @Test("one reply each, in order; the first request waiting starts the clock, the others do not")
    func plainInOrder() {
        var matcher = Matcher()
        #expect(matcher.isClean)
        let startsClock1 = matcher.expect(.one, for: "a")
        #expect(startsClock1)
        let startsClock2 = matcher.expect(.one, for: "b")
        #expect(!startsClock2)
        #expect(matcher.waitingCount == 2)
        #expect(matcher.isAwaitingReply)
        #expect(Self.step(&matcher, Self.hit) == Self.finished("a", Self.hit))
        #expect(Self.step(&matcher, .stored) == Self.finished("b", .stored))
        #expect(matcher.isClean)
        #expect(!matcher.isAwaitingReply)
        // Emptied, the next request starts the clock again.
        let startsClock3 = matcher.expect(.one, for: "c")
        #expect(startsClock3)
    }

    @Test("the oldest waiters are visited oldest first, at most as many as asked, and nothing changes")
    func oldestWaiters() {
        var matcher = Matcher()
        var seen: [String] = []
        matcher.forOldestWaiters(16) { seen.append(copy $0) }
        #expect(seen.isEmpty)
        for waiter in ["a", "b", "c"] { _ = matcher.expect(.one, for: waiter) }
        _ = matcher.expect(nil, for: "noreply") // not waiting for a reply: never visited
        matcher.forOldestWaiters(2) { seen.append(copy $0) }
        #expect(seen == ["a", "b"])
        #expect(Self.step(&matcher, Self.hit) == Self.finished("a", Self.hit))
        seen = []
        matcher.forOldestWaiters(16) { seen.append(copy $0) }
        #expect(seen == ["b", "c"])
        #expect(matcher.waitingCount == 2)
        #expect(Self.step(&matcher, .stored) == Self.finished("b", .stored))
    }

    @Test("a reply with no request waiting is unexpected (the stream is out of step)")
    func unexpectedReply() {
        var matcher = Matcher()
        #expect(Self.step(&matcher, Self.hit) == "unexpected")
        _ = matcher.expect(.one, for: "a")
        _ = matcher.received(Self.hit)
        #expect(Self.step(&matcher, Self.noop) == "unexpected")
    }

    @Test("a quiet mg: a hit is held until its MN; a miss completes as EN at the MN")
    func quietGet() {
        var matcher = Matcher()
        _ = matcher.expect(.quiet(suppressed: .miss, kept: nil), for: "hit")
        _ = matcher.expect(.quiet(suppressed: .miss, kept: nil), for: "miss")
        _ = matcher.expect(.one, for: "after")
        #expect(Self.step(&matcher, Self.hit) == "held")
        #expect(matcher.waitingCount == 3)
        #expect(Self.step(&matcher, Self.noop) == Self.finished("hit", Self.hit))
        #expect(Self.step(&matcher, Self.noop) == Self.finished("miss", Self.miss))
        #expect(Self.step(&matcher, .stored) == Self.finished("after", .stored))
        #expect(matcher.isClean)
    }

    @Test("a quiet store that succeeds completes as the HD it suppressed; a failure it kept comes back instead")
    func quietStore() {
        var matcher = Matcher()
        _ = matcher.expect(.quiet(suppressed: .headerOnly, kept: nil), for: "ok")
        _ = matcher.expect(.quiet(suppressed: .headerOnly, kept: nil), for: "refused")
        #expect(Self.step(&matcher, Self.noop) == Self.finished("ok", Self.stored))
        let notStored = MemcacheResponse.meta(MemcacheMetaResponse(status: .notStored))
        #expect(Self.step(&matcher, notStored) == "held")
        #expect(Self.step(&matcher, Self.noop) == Self.finished("refused", notStored))
    }

    @Test("a batch: replies and its fences' MNs go to onPartial; only the last MN completes it")
    func fencedBatch() {
        var matcher = Matcher()
        _ = matcher.expect(.untilNoop(onPartial: nil, fences: 2), for: "batch")
        _ = matcher.expect(.one, for: "next")
        let steps = [Self.hit, Self.noop, Self.noop, Self.hit, Self.noop].map { Self.step(&matcher, $0) }
        #expect(
            steps == [
                "partial \(Self.hit)", "partial \(Self.noop)", "partial \(Self.noop)", "partial \(Self.hit)",
                Self.finished("batch", Self.noop),
            ])
        #expect(Self.step(&matcher, Self.hit) == Self.finished("next", Self.hit))
    }

    @Test("a batch whose quiet commands all stay silent ends at its one MN")
    func silentBatch() {
        var matcher = Matcher()
        _ = matcher.expect(.untilNoop(onPartial: nil, fences: 0), for: "batch")
        #expect(Self.step(&matcher, Self.noop) == Self.finished("batch", Self.noop))
    }

    @Test("noreply requests wait for the write, not for a reply, and do not start the clock")
    func noreply() {
        var matcher = Matcher()
        let startsClock4 = matcher.expect(nil, for: "quiet-set")
        #expect(!startsClock4)
        #expect(!matcher.isClean)
        #expect(!matcher.isAwaitingReply)
        #expect(matcher.waitingCount == 0)
        #expect(matcher.written() == ["quiet-set"])
        #expect(matcher.written() == [])
        #expect(matcher.isClean)
    }

    @Test("a closed connection: only requests none of whose reply arrived are safe to resend")
    func closedBeforeReply() {
        var matcher = Matcher()
        _ = matcher.expect(.quiet(suppressed: .miss, kept: nil), for: "held")
        _ = matcher.expect(.one, for: "untouched")
        _ = matcher.expect(nil, for: "noreply")
        _ = matcher.received(Self.hit) // held for "held"
        let failed = matcher.fail(MemcacheError(.connectionClosed, "closed"), oldestReplyPending: false)
        #expect(failed.map(\.0) == ["held", "untouched", "noreply"])
        #expect(failed.map(\.1.closedBeforeReply) == [false, true, false])
        #expect(failed.allSatisfy { $0.1.code == .connectionClosed })
        #expect(matcher.isClean)
    }

    @Test("the oldest request with reply bytes buffered is not safe to resend; a timeout never is")
    func partialBytesAndTimeouts() {
        var matcher = Matcher()
        _ = matcher.expect(.one, for: "a")
        _ = matcher.expect(.one, for: "b")
        let closed = matcher.fail(MemcacheError(.tlsFailure, "tls"), oldestReplyPending: true)
        #expect(closed.map(\.1.closedBeforeReply) == [false, true])

        var timedOut = Matcher()
        _ = timedOut.expect(.one, for: "a")
        _ = timedOut.expect(.one, for: "b")
        let failed = timedOut.fail(MemcacheError(.timeout, "no reply"), oldestReplyPending: false)
        #expect(failed.map(\.1.closedBeforeReply) == [false, false])
        #expect(failed.allSatisfy { $0.1.code == .timeout })
    }

    @Test("once failed it stays failed: the first error sticks, later replies are ignored")
    func failedStaysFailed() {
        var matcher = Matcher()
        _ = matcher.expect(.one, for: "a")
        _ = matcher.fail(MemcacheError(.timeout, "first"), oldestReplyPending: false)
        #expect(matcher.failure?.message == "first")
        #expect(!matcher.isAwaitingReply)
        #expect(Self.step(&matcher, Self.hit) == "ignored")
        #expect(matcher.fail(MemcacheError(.connectionClosed, "second"), oldestReplyPending: false).isEmpty)
        #expect(matcher.failure?.message == "first")
    }
}
