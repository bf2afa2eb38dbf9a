import Channels
import Testing

@Suite("Embedded event loop")
struct EmbeddedEventLoopTests {
    @Test("timers fire only when time is advanced, in deadline order")
    func manualTime() {
        let loop = EmbeddedEventLoop()
        let fired = LockedValue<[Int]>([])
        loop.scheduleTask(in: .seconds(2)) { fired.withLock { $0.append(2) } }
        loop.scheduleTask(in: .seconds(1)) { fired.withLock { $0.append(1) } }
        let cancelled = loop.scheduleTask(in: .seconds(1)) { fired.withLock { $0.append(99) } }
        cancelled.cancel()
        loop.run()
        #expect(fired.withLock { $0 }.isEmpty)
        loop.advanceTime(by: .milliseconds(1500))
        #expect(fired.withLock { $0 } == [1])
        loop.advanceTime(by: .seconds(1))
        #expect(fired.withLock { $0 } == [1, 2])
    }
}
