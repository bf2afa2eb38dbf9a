import Channels

// Moving waiters between loops (`.preferred` affinity).
//
// A waiter on a saturated loop is offered to the other loops once it has waited
// `handoffAfter`, or earlier when less than `handoffAfter` is left before its deadline (it
// would likely time out here); each waiter is offered at most once per `handoffAfter`. The
// loop (`LoopPool`) looks for a loop that can serve it now — a connection with room
// (`hasRoomNow`), or room and budget to connect (`couldConnectNow`) — and, if one is found,
// takes the waiter out
// (`handOff`) and enqueues it there as adopted: an adopted waiter is never offered again.

extension LoopPoolMachine {
    /// Whether a new caller would be served at once by a ready connection.
    var hasRoomNow: Bool {
        !self.isShuttingDown && self.waiters.isEmpty && self.bestReadySlot() != nil
    }

    /// Whether a connect could start for a new caller, given the pool-wide budget (which the
    /// loop checks: this says only that the loop's own caps allow it).
    var couldConnectNow: Bool {
        !self.isShuttingDown && self.waiters.isEmpty && self.slots.count < self.limits.maxConnections
            && self.connectingCount < self.limits.maxConnecting
    }

    /// The waiter leaves this loop for another one; nil when it is no longer here.
    mutating func handOff(_ id: WaiterID) -> Waiter? {
        self.removeWaiter(id)?.waiter
    }

    /// Waiters to offer now: at most a few per check, and one check per `handoffAfter` (the
    /// other loop's room is a hint, and sending more would only move the queue).
    mutating func handoffCandidates(now: Deadline) -> [WaiterID] {
        guard let after = self.limits.handoffAfter, !self.waiters.isEmpty, now >= self.nextHandoffCheck else {
            return []
        }
        self.nextHandoffCheck = now + after
        let candidates = self.waiters.select(limit: 4) { entry in
            guard !entry.adopted, entry.deadline > now else { return false }
            let waitedLong = now - entry.enqueued >= after
            let closeToDeadline = entry.deadline - now <= after
            let notOfferedLately = entry.offered.map { now - $0 >= after } ?? true
            return (waitedLong || closeToDeadline) && notOfferedLately
        }
        for id in candidates { self.markOffered(id, now: now) }
        return candidates
    }

    /// When the next handoff check is due: the oldest un-adopted waiter reaching the
    /// threshold, or the earliest deadline coming within it — never before the next check.
    var nextHandoffPoint: Deadline {
        guard let after = self.limits.handoffAfter, !self.waiters.isEmpty else { return .distantFuture }
        var point = self.waiters.earliestDeadline - after
        if let start = self.waiters.oldestUnadoptedWaitStart { point = min(point, start + after) }
        return max(point, self.nextHandoffCheck)
    }
}
