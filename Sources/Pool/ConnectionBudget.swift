import Channels
import Synchronization

/// The pool-wide connection cap, shared by the loops: a loop reserves a unit before each
/// connect and returns it when the connection is gone.
///
/// Thread-safe: an atomic counter, touched per connect and close, never per lease. A loop
/// refused while others hold the budget marks itself starved; the next unit returned (an idle
/// connection elsewhere, asked to close) wakes the starved loops.
final class ConnectionBudget: Sendable {
    let cap: Int
    private let open = Atomic<Int>(0)
    private let starvedCount = Atomic<Int>(0)
    private let starved = LockedValue<[Int]>([])

    init(cap: Int) {
        self.cap = cap
    }

    var openCount: Int { self.open.load(ordering: .acquiring) }

    /// Whether some loop waits for budget (one relaxed load: cheap enough for every release).
    var hasStarvedLoops: Bool { self.starvedCount.load(ordering: .relaxed) > 0 }

    /// Whether a loop other than `loop` waits for budget (under the lock, so only after
    /// `hasStarvedLoops` said some loop does).
    func hasStarvedLoops(otherThan loop: Int) -> Bool {
        self.starved.withLock { loops in loops.contains { $0 != loop } }
    }

    /// Takes a unit for a connect of `loop`, which then is starved no more. (A refusal and
    /// the mark it leads to are two steps: a unit that comes back between them leaves the
    /// mark behind, the loop connects anyway, and the stale mark had loops give up idle
    /// connections for nobody — that loop its own, when its caller released it: a TSan run of
    /// `budgetRebalancing`.)
    func tryReserve(for loop: Int) -> Bool {
        var current = self.open.load(ordering: .relaxed)
        while current < self.cap {
            let (exchanged, original) = self.open.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                if self.starvedCount.load(ordering: .acquiring) > 0 { self.unmarkStarved(loop: loop) }
                return true
            }
            current = original
        }
        return false
    }

    private func unmarkStarved(loop: Int) {
        self.starved.withLock { loops in
            loops.removeAll { $0 == loop }
            self.starvedCount.store(loops.count, ordering: .releasing)
        }
    }

    /// Returns a unit; the loops to notify (the starved ones), if any.
    func release() -> [Int] {
        self.open.subtract(1, ordering: .acquiringAndReleasing)
        guard self.starvedCount.load(ordering: .acquiring) > 0 else { return [] }
        return self.starved.withLock { loops in
            defer { loops.removeAll() }
            self.starvedCount.store(0, ordering: .releasing)
            return loops
        }
    }

    func markStarved(loop: Int) {
        self.starved.withLock { loops in
            if !loops.contains(loop) { loops.append(loop) }
            self.starvedCount.store(loops.count, ordering: .releasing)
        }
    }
}
