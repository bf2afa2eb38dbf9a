import Channels
import TestSupport
import Testing

@testable import MemcacheClient

/// Plain-task callers of a `MemcachePool` with resumed tasks kept on the loops, in a process
/// of their own (the hook is process-wide).
enum ResumedTasksPoolCheck {
    // Enough to cover both loops many times over; kept small because the child is a whole
    // test process, which under a sanitizer competes with every other test for the 2 cores
    // (32 × 100 took 112 s of TSan CI's wall time).
    static let callers = 16
    static let rounds = 50

    static func run() async throws {
        guard EventLoopGroup.keepResumedTasksOnLoops() else { throw TestSupportError("the hook was not installed") }
        let fixture = try await MemcachePoolFixture()
        let pool = fixture.pool
        let loops = fixture.group.loops
        // Each caller writes values naming its own key and round, and reads them back: a
        // reply given to the wrong caller, or a request sent from the wrong thread, shows.
        let counts = try await withThrowingTaskGroup(of: (wrong: Int, onLoop: Int).self) { tasks in
            for caller in 0..<Self.callers {
                tasks.addTask {
                    var wrong = 0
                    var onLoop = 0
                    for round in 0..<Self.rounds {
                        let key = "resumed-\(caller)"
                        try await pool.set(key, to: ByteBuffer(string: "\(key) \(round)"))
                        let value = try await pool.get(key)
                        if value != ByteBuffer(string: "\(key) \(round)") { wrong += 1 }
                        if loops.contains(where: { $0.inEventLoop }) { onLoop += 1 }
                    }
                    return (wrong, onLoop)
                }
            }
            return try await tasks.reduce(into: (wrong: 0, onLoop: 0)) {
                $0.wrong += $1.wrong
                $0.onLoop += $1.onLoop
            }
        }
        let total = Self.callers * Self.rounds
        guard counts.wrong == 0 else { throw TestSupportError("\(counts.wrong) of \(total) gets read a wrong value") }
        guard counts.onLoop == total else {
            throw TestSupportError("\(counts.onLoop) of \(total) gets resumed their caller on a loop")
        }
        try await fixture.stop()
    }
}

@Suite(
    "MemcachePool with resumed tasks kept on the loops",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct ResumedTasksPoolTests {
    @Test("plain-task callers continue on the loop that answered them, and every value reaches its own caller")
    func plainTaskCallers() async {
        // The child reports a failed check on its standard output (an exit test's result is
        // only returned when the process exits as expected).
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            do {
                try await ResumedTasksPoolCheck.run()
                print("check passed")
            } catch {
                print("check failed: \(error)")
            }
        }
        let output = result.map { String(decoding: $0.standardOutputContent, as: UTF8.self) } ?? ""
        #expect(output.hasSuffix("check passed\n"), "\(output)")
    }
}
