import Channels
import TestSupport
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
        #expect(queue.placeCount <= 2 * queue.count + 32, "\(queue.placeCount) places for 1 waiter")
        #expect(queue.popFirst()?.id == WaiterID(value: 1))
        #expect(queue.popFirst() == nil)
    }

    @Test("20,000 random operations agree with a plain list of the waiters")
    func againstAModel() {
        var queue = WaiterQueue<Int>()
        // The model: live waiters oldest first, with when each was last offered.
        var model: [(id: UInt64, deadline: Int64, offered: Deadline?)] = []
        var generator = SplitMix64(seed: 23)
        var nextID: UInt64 = 0
        var clock: Int64 = 0
        for step in 0..<20_000 {
            switch generator.next() % 10 {
            case 0...3:
                nextID += 1
                let deadline = clock + Int64(generator.next() % 500)
                queue.append(WaiterID(value: nextID), self.entry(deadline: deadline))
                model.append((nextID, deadline, nil))
            case 4...5:
                let id = nextID == 0 ? 0 : 1 + generator.next() % nextID
                let removed = queue.remove(WaiterID(value: id))
                let index = model.firstIndex { $0.id == id }
                #expect((removed != nil) == (index != nil), "step \(step): remove \(id)")
                if let index { model.remove(at: index) }
                #expect(queue.placeCount <= 2 * queue.count + 32, "step \(step): places after a removal")
            case 6...7:
                let popped = queue.popFirst()
                #expect(popped?.id.value == model.first?.id, "step \(step): oldest")
                #expect(popped?.entry.offered == model.first?.offered, "step \(step): its offer")
                if !model.isEmpty { model.removeFirst() }
            case 8:
                let id = nextID == 0 ? 0 : 1 + generator.next() % nextID
                let at = Self.now + .milliseconds(clock)
                queue.markOffered(WaiterID(value: id), at: at)
                if let index = model.firstIndex(where: { $0.id == id }) { model[index].offered = at }
                #expect(queue.contains(WaiterID(value: id)) == model.contains { $0.id == id }, "step \(step)")
                #expect(queue[WaiterID(value: id)]?.offered == model.first { $0.id == id }?.offered)
            default:
                clock += 50
                let expired = queue.removeExpired(now: Self.now + .milliseconds(clock)).map(\.id.value)
                #expect(expired == model.filter { $0.deadline <= clock }.map(\.id), "step \(step): expiry")
                model.removeAll { $0.deadline <= clock }
            }
            #expect(queue.count == model.count, "step \(step): count")
        }
        #expect(queue.removeAll().map(\.id.value) == model.map(\.id))
        #expect(queue.isEmpty)
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
