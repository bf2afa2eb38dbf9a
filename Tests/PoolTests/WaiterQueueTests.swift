import Channels
import Testing

@testable import Pool

@Suite struct WaiterQueueTests {
    static let now = Deadline(uptimeNanoseconds: 1_000_000_000)

    func entry(deadline milliseconds: Int64) -> WaiterQueue<Int>.Entry {
        .init(
            waiter: Int(milliseconds), enqueued: Self.now, deadline: Self.now + .milliseconds(milliseconds),
            adopted: false)
    }

    @Test("first in, first out, skipping removed waiters")
    func order() {
        var queue = WaiterQueue<Int>()
        for value in 1...5 { queue.append(WaiterID(value: UInt64(value)), self.entry(deadline: 100)) }
        #expect(queue.remove(WaiterID(value: 2)) != nil)
        #expect(queue.remove(WaiterID(value: 2)) == nil)
        #expect(queue.count == 4)
        #expect(queue.popFirst()?.id == WaiterID(value: 1))
        #expect(queue.popFirst()?.id == WaiterID(value: 3))
    }

    @Test("removing many keeps memory proportional to the live waiters")
    func compaction() {
        var queue = WaiterQueue<Int>()
        for value in 1...10_000 { queue.append(WaiterID(value: UInt64(value)), self.entry(deadline: 100)) }
        for value in 2...10_000 { queue.remove(WaiterID(value: UInt64(value))) }
        #expect(queue.count == 1)
        #expect(queue.popFirst()?.id == WaiterID(value: 1))
        #expect(queue.popFirst() == nil)
    }

    @Test("expired waiters are removed in order; the earliest deadline follows")
    func expiry() {
        var queue = WaiterQueue<Int>()
        queue.append(WaiterID(value: 1), self.entry(deadline: 300))
        queue.append(WaiterID(value: 2), self.entry(deadline: 100))
        queue.append(WaiterID(value: 3), self.entry(deadline: 200))
        #expect(queue.earliestDeadline == Self.now + .milliseconds(100))
        #expect(
            queue.removeExpired(now: Self.now + .milliseconds(200)).map(\.id) == [
                WaiterID(value: 2), WaiterID(value: 3),
            ])
        #expect(queue.earliestDeadline == Self.now + .milliseconds(300))
        #expect(queue.count == 1)
    }
}
