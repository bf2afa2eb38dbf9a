import Channels
import Testing

@testable import MemcacheServer

/// `ServerConnectionState` on its own: every phase and event, the time passed in.
@Suite("Server connection state")
struct ServerConnectionStateTests {
    static let start = Deadline(uptimeNanoseconds: 1_000_000_000)

    static func at(_ seconds: Int64) -> Deadline { start + .seconds(seconds) }

    static func serving(timeout: TimeAmount? = .seconds(10)) -> ServerConnectionState {
        var state = ServerConnectionState(incompleteRequestTimeout: timeout)
        _ = state.activated(draining: false, overLimit: false)
        return state
    }

    @Test("activation: serve; close while draining; refuse past the limit; close if told to before it was active")
    func activation() {
        var state = ServerConnectionState(incompleteRequestTimeout: nil)
        #expect(state.phase == .fresh && !state.registered && !state.readsInput)
        #expect(state.activated(draining: false, overLimit: false) == .serve)
        #expect(state.phase == .serving && state.registered && state.readsInput && state.runsRequests)

        var draining = ServerConnectionState(incompleteRequestTimeout: nil)
        #expect(draining.activated(draining: true, overLimit: true) == .close)
        #expect(draining.phase == .closing && draining.registered && !draining.readsInput)

        var full = ServerConnectionState(incompleteRequestTimeout: nil)
        #expect(full.activated(draining: false, overLimit: true) == .refuseTooMany)
        #expect(full.phase == .closing && full.registered)

        var early = ServerConnectionState(incompleteRequestTimeout: nil)
        let beganClosing1 = early.startClosing()
        #expect(beganClosing1)
        #expect(early.activated(draining: false, overLimit: false) == .close)
        #expect(early.registered)
    }

    @Test("deactivation uncounts a counted connection once, from any phase")
    func deactivation() {
        var state = Self.serving()
        let wasCounted2 = state.deactivated()
        #expect(wasCounted2)
        #expect(state.phase == .closed && !state.registered)
        let wasCounted3 = state.deactivated()
        #expect(!wasCounted3)

        var never = ServerConnectionState(incompleteRequestTimeout: nil)
        let wasCounted4 = never.deactivated()
        #expect(!wasCounted4)

        var closing = Self.serving()
        _ = closing.startClosing()
        let wasCounted5 = closing.deactivated()
        #expect(wasCounted5)
    }

    @Test("pause and resume follow writability; reading follows it while serving")
    func pauseAndResume() {
        var state = Self.serving()
        #expect(state.writabilityChanged(isWritable: false) == .setAutoRead(false))
        #expect(state.writabilityChanged(isWritable: true) == .setAutoRead(true))
        state.pause()
        #expect(state.phase == .paused && state.readsInput && !state.runsRequests)
        #expect(state.writabilityChanged(isWritable: false) == .setAutoRead(false))
        #expect(state.phase == .paused)
        #expect(state.writabilityChanged(isWritable: true) == .resume)
        #expect(state.phase == .serving)
    }

    @Test("closing: once only; nothing is read, run or resumed afterwards")
    func closing() {
        var state = Self.serving()
        state.pause()
        let beganClosing6 = state.startClosing()
        #expect(beganClosing6)
        let beganClosing7 = state.startClosing()
        #expect(!beganClosing7)
        #expect(state.isClosing && !state.readsInput && !state.runsRequests)
        #expect(state.writabilityChanged(isWritable: true) == .ignore)
        state.pause()
        #expect(state.phase == .closing)
        #expect(state.leftIncomplete(now: Self.at(0)) == nil)
    }

    @Test(
        "an incomplete request: one timer from its first byte; trickling does not restart it; past the timeout it closes"
    )
    func incompleteTimesOut() {
        var state = Self.serving()
        #expect(state.leftIncomplete(now: Self.at(0)) == Self.at(10))
        #expect(state.leftIncomplete(now: Self.at(4)) == nil) // still the same request, timer set
        #expect(state.incompleteSince == Self.at(0))
        #expect(state.incompleteTimerFired(now: Self.at(10)) == .close)
    }

    @Test("a request that completes stops the clock; a newer incomplete one re-arms from its own start")
    func completedThenNewer() {
        var state = Self.serving()
        _ = state.leftIncomplete(now: Self.at(0))
        state.stopIncompleteClock() // it completed
        #expect(state.leftIncomplete(now: Self.at(6)) == nil) // the timer for the first is still set
        #expect(state.incompleteTimerFired(now: Self.at(10)) == .rearm(Self.at(16)))
        #expect(state.incompleteTimerFired(now: Self.at(16)) == .close)

        var done = Self.serving()
        _ = done.leftIncomplete(now: Self.at(0))
        done.stopIncompleteClock()
        #expect(done.incompleteTimerFired(now: Self.at(10)) == .none)
        // With no timer left, the next incomplete request sets one.
        #expect(done.leftIncomplete(now: Self.at(11)) == Self.at(21))
    }

    @Test("pausing stops the clock (the peer, not the request, is slow); no timeout configured: no timer ever")
    func pauseAndNoTimeout() {
        var state = Self.serving()
        _ = state.leftIncomplete(now: Self.at(0))
        state.pause()
        #expect(state.incompleteSince == nil)
        #expect(state.incompleteTimerFired(now: Self.at(10)) == .none)
        #expect(state.leftIncomplete(now: Self.at(11)) == nil) // paused: requests are not being read

        var untimed = Self.serving(timeout: nil)
        #expect(untimed.leftIncomplete(now: Self.at(0)) == nil)
        #expect(untimed.incompleteTimerFired(now: Self.at(100)) == .none)
    }

    @Test("a timer that fires after closing or deactivation does nothing")
    func timerAfterClose() {
        var state = Self.serving()
        _ = state.leftIncomplete(now: Self.at(0))
        _ = state.startClosing()
        #expect(!state.incompleteTimerArmed)
        #expect(state.incompleteTimerFired(now: Self.at(10)) == .none)

        var gone = Self.serving()
        _ = gone.leftIncomplete(now: Self.at(0))
        _ = gone.deactivated()
        #expect(gone.incompleteTimerFired(now: Self.at(10)) == .none)
    }
}
