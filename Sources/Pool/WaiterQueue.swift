import Channels
import DequeModule

/// Identifies one caller waiting for a connection.
struct WaiterID: Hashable, Sendable {
    let value: UInt64
}

/// The waiters of one loop: first in, first out, bounded, with O(1) removal on cancel or
/// timeout.
///
/// Loop-confined (a value inside the loop's state machine). Removal only forgets the entry
/// in `entries`; its place in `order` is skipped when it reaches the front, and `order` is
/// compacted when skipped places outnumber live ones, so memory stays proportional to the
/// live waiters.
struct WaiterQueue {
    struct Entry {
        let enqueued: Deadline
        let deadline: Deadline
        /// Already moved here from another loop: never handed off again.
        let adopted: Bool
    }

    private var order = Deque<WaiterID>()
    private var entries: [WaiterID: Entry] = [:]
    /// No live waiter has an earlier deadline (it may be earlier than every live one).
    private(set) var earliestDeadline = Deadline.distantFuture

    var count: Int { self.entries.count }
    var isEmpty: Bool { self.entries.isEmpty }

    func contains(_ id: WaiterID) -> Bool { self.entries[id] != nil }

    mutating func append(_ id: WaiterID, _ entry: Entry) {
        self.order.append(id)
        self.entries[id] = entry
        self.earliestDeadline = min(self.earliestDeadline, entry.deadline)
    }

    /// The oldest live waiter's entry (non-mutating: may look past skipped places).
    var firstEntry: Entry? {
        for id in self.order { if let entry = self.entries[id] { return entry } }
        return nil
    }

    /// The oldest live waiter, removed.
    mutating func popFirst() -> WaiterID? {
        while let id = self.order.popFirst() {
            if self.entries.removeValue(forKey: id) != nil { return id }
        }
        return nil
    }

    /// The oldest live waiter, kept.
    mutating func first() -> (id: WaiterID, entry: Entry)? {
        while let id = self.order.first {
            if let entry = self.entries[id] { return (id, entry) }
            self.order.removeFirst()
        }
        return nil
    }

    @discardableResult
    mutating func remove(_ id: WaiterID) -> Entry? {
        guard let entry = self.entries.removeValue(forKey: id) else { return nil }
        if self.order.count > 2 * self.entries.count + 32 {
            self.order.removeAll { self.entries[$0] == nil }
        }
        if self.entries.isEmpty { self.earliestDeadline = .distantFuture }
        return entry
    }

    /// Removes and returns every waiter whose deadline is at or before `now`, oldest first.
    mutating func removeExpired(now: Deadline) -> [WaiterID] {
        guard self.earliestDeadline <= now else { return [] }
        var expired: [WaiterID] = []
        var earliest = Deadline.distantFuture
        for id in self.order {
            guard let entry = self.entries[id] else { continue }
            if entry.deadline <= now {
                expired.append(id)
            } else {
                earliest = min(earliest, entry.deadline)
            }
        }
        for id in expired { self.entries[id] = nil }
        self.order.removeAll { self.entries[$0] == nil }
        self.earliestDeadline = earliest
        return expired
    }

    /// Waiters, oldest first, that were not adopted and have waited since before `cutoff`.
    func waitingSince(before cutoff: Deadline, limit: Int) -> [WaiterID] {
        var found: [WaiterID] = []
        for id in self.order where found.count < limit {
            guard let entry = self.entries[id] else { continue }
            guard entry.enqueued < cutoff else { break }  // FIFO: later ones waited less
            if !entry.adopted { found.append(id) }
        }
        return found
    }

    /// Every live waiter, oldest first, removed.
    mutating func removeAll() -> [WaiterID] {
        // An explicit loop: copying an empty Deque into an Array writes the shared empty-array
        // storage, which ThreadSanitizer reports as a race between loops.
        var all: [WaiterID] = []
        for id in self.order where self.entries[id] != nil { all.append(id) }
        self.order.removeAll()
        self.entries.removeAll()
        self.earliestDeadline = .distantFuture
        return all
    }
}
