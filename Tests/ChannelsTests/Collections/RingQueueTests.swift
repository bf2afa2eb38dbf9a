@_spi(ChannelsCollections) import Channels
import Testing

@Suite("RingQueue")
struct RingQueueTests {
    /// Counts its live instances, so a leaked or doubly destroyed element shows.
    final class Tracked {
        final class Live { var count = 0 }
        let value: Int
        let live: Live
        init(_ value: Int, _ live: Live) {
            self.value = value
            self.live = live
            live.count += 1
        }
        deinit { self.live.count -= 1 }
    }

    @Test("first in, first out across wrap-around and growth, with the front changed in place")
    func order() {
        var queue = RingQueue<Int>()
        #expect(queue.isEmpty)
        var expected: [Int] = []
        var next = 0
        // Uneven appends and removals wrap the ring many times and grow it from 4 to 64.
        for round in 0..<200 {
            for _ in 0..<(round % 7) {
                queue.append(next)
                expected.append(next)
                next += 1
            }
            for _ in 0..<(round % 5) where !queue.isEmpty {
                #expect(queue.removeFirst() == expected.removeFirst())
            }
            #expect(queue.count == expected.count)
            #expect(Array(queue) == expected)
        }
        // Reading by position from the front, across the wrap, matches iteration.
        #expect((0..<queue.count).map { queue[$0] } == expected)
        queue.first += 1000
        #expect(queue.removeFirst() == expected.removeFirst() + 1000)
        queue.removeAll()
        #expect(queue.isEmpty)
        queue.append(7)
        #expect(Array(queue) == [7])
    }

    @Test("a copy keeps its elements while the original changes (copy-on-write)")
    func copyOnWrite() {
        var original = RingQueue<[Int]>()
        for value in 0..<6 { original.append([value]) }
        original.removeFirst()
        original.append([6]) // wrapped: the front is not slot 0
        let copy = original
        original.first.append(99)
        original.append([7])
        original.removeFirst()
        #expect(Array(copy) == [[1], [2], [3], [4], [5], [6]])
        #expect(Array(original) == [[2], [3], [4], [5], [6], [7]])
        var second = copy
        second.removeAll()
        #expect(copy.count == 6)
        #expect(second.isEmpty)
    }

    @Test("every element is destroyed once: removed, cleared, or with the queue")
    func elementLifetimes() {
        let live = Tracked.Live()
        do {
            var queue = RingQueue<Tracked>()
            for value in 0..<10 { queue.append(Tracked(value, live)) }
            #expect(live.count == 10)
            #expect(queue.removeFirst().value == 0)
            #expect(live.count == 9)
            var shared = queue
            shared.append(Tracked(10, live)) // copies the storage: the nine are shared, not duplicated
            #expect(live.count == 10)
            shared.removeAll()
            #expect(live.count == 9)
            for value in 11..<20 { queue.append(Tracked(value, live)) }
        }
        #expect(live.count == 0)
    }
}
