import HeapModule

/// The pending timers of one loop, earliest first; ties fire in the order they were added.
///
/// Loop-confined. Cancelled timers are dropped from the table at once and from the heap
/// lazily; the heap is rebuilt when dead entries outnumber live ones, so a stream of
/// cancelled long timeouts cannot grow it without bound.
struct TimerQueue {
    /// What a timer does: runs with nil, or is told why it will never run.
    typealias Work = ((any Error)?) -> Void

    private struct Entry: Comparable {
        let deadline: Deadline
        let id: UInt64
        static func < (lhs: Entry, rhs: Entry) -> Bool {
            (lhs.deadline, lhs.id) < (rhs.deadline, rhs.id)
        }
    }

    private var heap = Heap<Entry>()
    private var work: [UInt64: Work] = [:]

    var count: Int { self.work.count }

    mutating func insert(id: UInt64, deadline: Deadline, work: @escaping Work) {
        self.heap.insert(Entry(deadline: deadline, id: id))
        self.work[id] = work
    }

    /// Removes a timer that has not fired; returns its work, or nil if it already ran.
    mutating func cancel(id: UInt64) -> Work? {
        let removed = self.work.removeValue(forKey: id)
        if removed != nil, self.heap.count > 64, self.heap.count > 2 * self.work.count {
            self.heap = Heap(self.heap.unordered.filter { self.work[$0.id] != nil })
        }
        return removed
    }

    /// The earliest live deadline.
    mutating func nextDeadline() -> Deadline? {
        while let top = self.heap.min {
            if self.work[top.id] != nil { return top.deadline }
            self.heap.removeMin()
        }
        return nil
    }

    /// Removes and returns the earliest timer due at `now`, if any.
    mutating func popDue(now: Deadline) -> Work? {
        while let top = self.heap.min, top.deadline <= now {
            self.heap.removeMin()
            if let work = self.work.removeValue(forKey: top.id) { return work }
        }
        return nil
    }

    /// Removes every timer (at shutdown) and returns their work, in deadline order.
    mutating func removeAll() -> [Work] {
        var all: [Work] = []
        while let top = self.heap.popMin() {
            if let work = self.work.removeValue(forKey: top.id) { all.append(work) }
        }
        return all
    }
}
