import Channels
import Testing

@testable import Codecs

@Suite("Response clock")
struct ResponseClockTests {
    private func at(_ milliseconds: UInt64) -> Deadline { Deadline(uptimeNanoseconds: milliseconds * 1_000_000) }

    @Test("one timer for many requests: the first asks for it, later starts and replies only move the deadline")
    func oneTimer() {
        var clock = ResponseClock(timeout: .milliseconds(100))
        #expect(clock.start(now: self.at(0)) == self.at(100))
        #expect(clock.start(now: self.at(10)) == nil)
        clock.heard(now: self.at(50))
        #expect(clock.fired(now: self.at(100), outstanding: true) == .rearm(self.at(150)))
        #expect(clock.fired(now: self.at(150), outstanding: true) == .expired)
        // Expired: the next request arms a new timer.
        #expect(clock.start(now: self.at(200)) == self.at(300))
    }

    @Test("a timer that fires with nothing outstanding stops; no timeout asks for no timer")
    func idleAndNone() {
        var clock = ResponseClock(timeout: .milliseconds(100))
        _ = clock.start(now: self.at(0))
        #expect(clock.fired(now: self.at(100), outstanding: false) == .idle)
        clock.heard(now: self.at(120)) // no timer runs: nothing to move
        #expect(clock.start(now: self.at(130)) == self.at(230))
        var forever = ResponseClock(timeout: nil)
        #expect(forever.start(now: self.at(0)) == nil)
    }

    @Test("a timer cancelled because the connection closed leaves the clock idle: the next start arms a new one")
    func stopped() {
        var clock = ResponseClock(timeout: .milliseconds(100))
        #expect(clock.start(now: self.at(0)) == self.at(100))
        clock.stopped()
        clock.heard(now: self.at(20)) // nothing armed: nothing to move
        #expect(clock.start(now: self.at(30)) == self.at(130))
        #expect(clock.start(now: self.at(40)) == nil)
    }
}
