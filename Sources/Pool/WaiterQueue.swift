import Channels
import DequeModule

/// Identifies one caller waiting for a connection.
package struct WaiterID: Hashable, Sendable, CustomStringConvertible {
    let value: UInt64
    package var description: String { "w\(self.value)" }
}

/// The waiters of one loop: first in, first out, bounded by the machine.
///
/// Loop-confined (a value inside the loop's machine). Each entry keeps the caller's `Waiter`
/// value (whatever the executor resumes it with), so the machine is the only ledger of its
/// waiters.
///
/// Waiters are kept by ascending id, which is the order they queue in (the machine numbers
/// them as they come), with no hashing: the operations of every queued lease — append, take
/// the oldest — touch only the ends of one deque, and finding a waiter by id (cancel,
/// timeout, handoff) is a binary search. A removed waiter leaves an empty place that is
/// dropped when it reaches the front, or when empty places outnumber live ones (memory stays
/// proportional to the live waiters).
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

    private var places = Deque<(id: WaiterID, entry: Entry?)>()
    /// Live waiters.
    private(set) var count = 0
    /// No live waiter has an earlier deadline (it may be earlier than every live one).
    private(set) var earliestDeadline = Deadline.distantFuture

    var isEmpty: Bool { self.count == 0 }

    /// Places held, empty ones included (what compaction bounds).
    var placeCount: Int { self.places.count }

    func contains(_ id: WaiterID) -> Bool { self.liveIndex(of: id) != nil }

    subscript(id: WaiterID) -> Entry? { self.liveIndex(of: id).flatMap { self.places[$0].entry } }

    /// The first place whose id is not below `id`.
    private func lowerBound(_ id: WaiterID) -> Int {
        var low = 0
        var high = self.places.count
        while low < high {
            let middle = (low + high) / 2
            if self.places[middle].id.value < id.value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private func liveIndex(of id: WaiterID) -> Int? {
        let index = self.lowerBound(id)
        guard index < self.places.count, self.places[index].id == id, self.places[index].entry != nil else {
            return nil
        }
        return index
    }

    mutating func append(_ id: WaiterID, _ entry: Entry) {
        if let last = self.places.last, last.id.value >= id.value {
            // Not how the machine numbers waiters, but the order by id holds anyway.
            let index = self.lowerBound(id)
            if index < self.places.count, self.places[index].id == id {
                if self.places[index].entry == nil { self.count += 1 }
                self.places[index].entry = entry
            } else {
                self.places.insert((id, entry), at: index)
                self.count += 1
            }
        } else {
            self.places.append((id, entry))
            self.count += 1
        }
        self.earliestDeadline = min(self.earliestDeadline, entry.deadline)
    }

    /// The oldest live waiter, kept.
    mutating func first() -> (id: WaiterID, entry: Entry)? {
        while let place = self.places.first {
            if let entry = place.entry { return (place.id, entry) }
            self.places.removeFirst()
        }
        return nil
    }

    /// The oldest live waiter, removed.
    mutating func popFirst() -> (id: WaiterID, entry: Entry)? {
        while let place = self.places.popFirst() {
            if let entry = place.entry {
                self.count -= 1
                if self.count == 0 { self.earliestDeadline = .distantFuture }
                return (place.id, entry)
            }
        }
        return nil
    }

    @discardableResult
    mutating func remove(_ id: WaiterID) -> Entry? {
        guard let index = self.liveIndex(of: id) else { return nil }
        let entry = self.places[index].entry
        self.places[index].entry = nil
        self.count -= 1
        if self.places.count > 2 * self.count + 32 {
            self.places.removeAll { $0.entry == nil }
        }
        if self.count == 0 { self.earliestDeadline = .distantFuture }
        return entry
    }

    mutating func markOffered(_ id: WaiterID, at now: Deadline) {
        guard let index = self.liveIndex(of: id) else { return }
        self.places[index].entry?.offered = now
    }

    /// Removes and returns every waiter whose deadline is at or before `now`, oldest first.
    mutating func removeExpired(now: Deadline) -> [(id: WaiterID, entry: Entry)] {
        guard self.earliestDeadline <= now else { return [] }
        var expired: [(id: WaiterID, entry: Entry)] = []
        var earliest = Deadline.distantFuture
        for index in self.places.indices {
            guard let entry = self.places[index].entry else { continue }
            if entry.deadline <= now {
                expired.append((self.places[index].id, entry))
                self.places[index].entry = nil
            } else {
                earliest = min(earliest, entry.deadline)
            }
        }
        self.places.removeAll { $0.entry == nil }
        self.count -= expired.count
        self.earliestDeadline = earliest
        return expired
    }

    /// Where the oldest live waiter not `adopted` counts its wait for a handoff from: when it
    /// was last offered to other loops, else when it queued. Read in place: iterating
    /// `places` (or copying an entry out) retained and released the storage (or the waiter),
    /// once per queued waiter at 4,096 callers (uprobes under `mcpool bench`).
    var oldestUnadoptedWaitStart: Deadline? {
        var index = self.places.startIndex
        while index < self.places.endIndex {
            if self.places[index].entry?.adopted == false {
                return self.places[index].entry?.offered ?? self.places[index].entry?.enqueued
            }
            index += 1
        }
        return nil
    }

    /// Live waiters, oldest first, for which `include` holds, at most `limit`.
    func select(limit: Int, where include: (Entry) -> Bool) -> [WaiterID] {
        var found: [WaiterID] = []
        for place in self.places where found.count < limit {
            guard let entry = place.entry, include(entry) else { continue }
            found.append(place.id)
        }
        return found
    }

    /// Every live waiter, oldest first, removed.
    mutating func removeAll() -> [(id: WaiterID, entry: Entry)] {
        // An explicit loop: copying an empty Deque into an Array writes the shared empty-array
        // storage, which ThreadSanitizer reports as a race between loops.
        var all: [(id: WaiterID, entry: Entry)] = []
        for place in self.places { if let entry = place.entry { all.append((place.id, entry)) } }
        self.places.removeAll()
        self.count = 0
        self.earliestDeadline = .distantFuture
        return all
    }
}
