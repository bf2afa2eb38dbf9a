import Channels
import TestSupport
import Testing

@testable import Pool

/// How a caller off the loops is given a loop: round robin, except an awake loop with room
/// before a sleeping one, and a sleeping loop before a swamped one.
@Suite("LoopChoice: routing callers off the loops")
struct LoopChoiceTests {
    typealias State = (queuedIfAwake: Int?, hasRoom: Bool)
    static let ready: State = (0, true)
    static let asleep: State = (nil, true)
    static let swamped: State = (LoopChoice.swampedQueueLength, true)

    func choose(from next: Int, _ states: [State]) -> Int {
        LoopChoice.preferred(from: next, of: states.count) { states[$0] }
    }

    @Test("the round-robin loop when it is awake, has room and is not swamped, or when all sleep")
    func roundRobinKept() {
        #expect(self.choose(from: 1, [Self.ready, Self.ready]) == 1)
        #expect(self.choose(from: 0, [Self.asleep, Self.asleep]) == 0)
        #expect(self.choose(from: 1, [Self.asleep, Self.asleep, Self.asleep]) == 1)
    }

    @Test("a sleeping round-robin loop is passed over for an awake one with room")
    func awakeBeforeAsleep() {
        #expect(self.choose(from: 0, [Self.asleep, Self.ready]) == 1)
        // The first awake one from the round-robin loop on, wrapping.
        #expect(self.choose(from: 2, [Self.ready, Self.ready, Self.asleep]) == 0)
        #expect(self.choose(from: 1, [Self.ready, Self.asleep, Self.asleep, Self.ready]) == 3)
    }

    @Test("a loop without room is no better than a sleeping one: connections open round robin")
    func roomRequired() {
        #expect(self.choose(from: 0, [Self.asleep, (0, false)]) == 0)
        #expect(self.choose(from: 0, [(0, false), (0, false)]) == 0)
        // The round-robin loop awake but full: another with room takes the call.
        #expect(self.choose(from: 0, [(0, false), Self.ready]) == 1)
    }

    @Test("a swamped round-robin loop gives the call to a sleeping one, else keeps it")
    func swampedLoop() {
        #expect(self.choose(from: 0, [Self.swamped, Self.asleep]) == 1)
        #expect(self.choose(from: 0, [Self.swamped, Self.ready]) == 1)
        #expect(self.choose(from: 0, [Self.swamped, Self.swamped]) == 0)
        // Just under the bound is not swamped.
        #expect(self.choose(from: 0, [(LoopChoice.swampedQueueLength - 1, true), Self.asleep]) == 0)
        // A swamped loop that is not the round-robin one is only skipped.
        #expect(self.choose(from: 0, [Self.asleep, Self.swamped]) == 0)
    }

    @Test("only the first few loops from the round-robin one are looked at")
    func probesAreBounded() {
        var states = [State](repeating: Self.asleep, count: 8)
        states[LoopChoice.loopsProbed] = Self.ready
        #expect(self.choose(from: 0, states) == 0)
        states[LoopChoice.loopsProbed - 1] = Self.ready
        #expect(self.choose(from: 0, states) == LoopChoice.loopsProbed - 1)
    }

    @Test("a pool's choice: an awake loop with an open connection before a sleeping one")
    func poolPrefersTheAwakeLoop() async throws {
        let fixture = try await EchoPoolFixture { _ in }
        let worker = fixture.group.loops[1]
        // No connection anywhere yet: round robin, so that connections open spread out.
        #expect(fixture.pool.awakeLoopFirst(from: 0) == 0)
        #expect(fixture.pool.awakeLoopFirst(from: 1) == 1)
        // A connection opened on the second loop and given back has room there; with that
        // loop kept awake, every choice is it (the first loop, awake or not, has no room).
        try await withTaskExecutorPreference(worker) { try await fixture.pool.lease().release() }
        let blocker = try await LoopBlocker(worker)
        #expect(fixture.pool.awakeLoopFirst(from: 0) == 1)
        #expect(fixture.pool.awakeLoopFirst(from: 1) == 1)
        #expect(fixture.pool.indexForCallerOffTheLoops() == 1)
        blocker.release()
        try await fixture.stop()
    }

    @Test("with resumed tasks kept on the loops, callers off the loops go round robin")
    func roundRobinWithResumedTasksOnLoops() async {
        // The child reports a failed check on its standard output (an exit test's result is
        // only returned when the process exits as expected).
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            do {
                try await RoutingWithResumedTasksCheck.run()
                print("check passed")
            } catch {
                print("check failed: \(error)")
            }
        }
        let output = result.map { String(decoding: $0.standardOutputContent, as: UTF8.self) } ?? ""
        #expect(output.hasSuffix("check passed\n"), "\(output)")
    }
}

/// In a process of its own: the hook is process-wide, and a test task it moved onto a loop
/// would change how every other test in the suite's process runs (one that then blocked in
/// a socket read held a server's loop).
enum RoutingWithResumedTasksCheck {
    /// With resumed tasks kept on the loops a call's loop becomes its task's home, so the
    /// choice is round robin even where `awakeLoopFirst` would pick one loop every time.
    static func run() async throws {
        guard EventLoopGroup.keepResumedTasksOnLoops() else { throw TestSupportError("the hook was not installed") }
        let fixture = try await EchoPoolFixture { _ in }
        let worker = fixture.group.loops[1]
        try await withTaskExecutorPreference(worker) { try await fixture.pool.lease().release() }
        let blocker = try await LoopBlocker(worker)
        let awakeFirst = [fixture.pool.awakeLoopFirst(from: 0), fixture.pool.awakeLoopFirst(from: 1)]
        let picks = (0..<4).map { _ in fixture.pool.indexForCallerOffTheLoops() }
        blocker.release()
        try await fixture.stop()
        guard awakeFirst == [1, 1] else { throw TestSupportError("the awake loop was not first: \(awakeFirst)") }
        guard picks == [picks[0], 1 - picks[0], picks[0], 1 - picks[0]] else {
            throw TestSupportError("callers were not spread round robin: \(picks)")
        }
    }
}
