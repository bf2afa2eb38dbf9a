import Channels
import DequeModule

/// Identifies one caller waiting for a connection.
struct WaiterID: Hashable, Sendable, CustomStringConvertible {
    let value: UInt64
    var description: String { "w\(self.value)" }
}

/// The waiters of one loop: first in, first out, bounded by the machine, with O(1) removal on
/// cancel, timeout or handoff.
///
/// Loop-confined (a value inside the loop's machine). Each entry keeps the caller's `Waiter`
/// value (whatever the executor resumes it with), so the machine is the only ledger of its
/// waiters. Removal only forgets the entry; its place in `order` is skipped when it reaches
/// the front, and `order` is compacted when skipped places outnumber live ones, so memory
/// stays proportional to the live waiters.
struct WaiterQueue<Waiter> {
    struct Entry {
        let waiter: Waiter
        let enqueued: Deadline
        let deadline: Deadline
        /// Moved here from another loop: never handed off again.
        let adopted: Bool
        /// When it was last offered to other loops (offers are made at most once per
        /// handoff threshold).
        var offered: Deadline?
    }

    private var order = Deque<WaiterID>()
    private var entries: [WaiterID: Entry] = [:]
    /// No live waiter has an earlier deadline (it may be earlier than every live one).
    private(set) var earliestDeadline = Deadline.distantFuture

    var count: Int { self.entries.count }
    var isEmpty: Bool { self.entries.isEmpty }

    func contains(_ id: WaiterID) -> Bool { self.entries[id] != nil }

    subscript(id: WaiterID) -> Entry? { self.entries[id] }

    mutating func append(_ id: WaiterID, _ entry: Entry) {
        self.order.append(id)
        self.entries[id] = entry
        self.earliestDeadline = min(self.earliestDeadline, entry.deadline)
    }

    /// The oldest live waiter, kept.
    mutating func first() -> (id: WaiterID, entry: Entry)? {
        while let id = self.order.first {
            if let entry = self.entries[id] { return (id, entry) }
            self.order.removeFirst()
        }
        return nil
    }

    /// The oldest live waiter, removed.
    mutating func popFirst() -> (id: WaiterID, entry: Entry)? {
        while let id = self.order.popFirst() {
            if let entry = self.entries.removeValue(forKey: id) {
                if self.entries.isEmpty { self.earliestDeadline = .distantFuture }
                return (id, entry)
            }
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

    mutating func markOffered(_ id: WaiterID, at now: Deadline) {
        self.entries[id]?.offered = now
    }

    /// Removes and returns every waiter whose deadline is at or before `now`, oldest first.
    mutating func removeExpired(now: Deadline) -> [(id: WaiterID, entry: Entry)] {
        guard self.earliestDeadline <= now else { return [] }
        var expired: [(id: WaiterID, entry: Entry)] = []
        var earliest = Deadline.distantFuture
        for id in self.order {
            guard let entry = self.entries[id] else { continue }
            if entry.deadline <= now {
                expired.append((id, entry))
            } else {
                earliest = min(earliest, entry.deadline)
            }
        }
        for (id, _) in expired { self.entries[id] = nil }
        self.order.removeAll { self.entries[$0] == nil }
        self.earliestDeadline = earliest
        return expired
    }

    /// The oldest live waiter for which `include` holds (no array is made).
    func firstEntry(where include: (Entry) -> Bool) -> Entry? {
        for id in self.order {
            if let entry = self.entries[id], include(entry) { return entry }
        }
        return nil
    }

    /// Live waiters, oldest first, for which `include` holds, at most `limit`.
    func select(limit: Int, where include: (Entry) -> Bool) -> [WaiterID] {
        var found: [WaiterID] = []
        for id in self.order where found.count < limit {
            guard let entry = self.entries[id], include(entry) else { continue }
            found.append(id)
        }
        return found
    }

    /// Every live waiter, oldest first, removed.
    mutating func removeAll() -> [(id: WaiterID, entry: Entry)] {
        // An explicit loop: copying an empty Deque into an Array writes the shared empty-array
        // storage, which ThreadSanitizer reports as a race between loops.
        var all: [(id: WaiterID, entry: Entry)] = []
        for id in self.order { if let entry = self.entries[id] { all.append((id, entry)) } }
        self.order.removeAll()
        self.entries.removeAll()
        self.earliestDeadline = .distantFuture
        return all
    }
}
