import Channels

// What time decides in a loop's machine: waiters past their deadline fail, connections past
// `maxLifetime` retire (no new lease; closed when the last one ends), idle connections above
// the minimum close after `idleTimeout`, the minimum is kept, and waiters that waited long
// are offered to other loops (`+Handoff`). The loop runs `tick` at the next deadline and
// periodically.

extension LoopPoolMachine {
    /// Everything due at `now`.
    mutating func tick(now: Deadline) -> Action {
        var action = Action()
        let expired = self.removeExpiredWaiters(now: now)
        if !expired.isEmpty {
            let error = PoolError(.leaseTimeout, "no connection became free in time", cause: self.lastConnectError)
            action.fail = expired.map { ($0.entry.waiter, error) }
        }
        action.offerHandoff = self.handoffCandidates(now: now)
        action.close = self.retireAndCloseIdle(now: now)
        action.connect = self.connectIfRoom(now: now)
        action.longLeases = self.longLeases(now: now)
        action.ping = self.duePings(now: now)
        return action
    }

    /// Leases held for `longLease` or more, each reported once: per connection its oldest
    /// lease (a shared connection's leases end in the order they began).
    private mutating func longLeases(now: Deadline) -> [(id: ConnectionID, heldFor: TimeAmount)] {
        guard let limit = self.limits.longLease, self.limits.measuresUseTime else { return [] }
        var found: [(id: ConnectionID, heldFor: TimeAmount)] = []
        for index in self.slots.indices {
            guard let start = self.slots[index].leaseStarts.first, now - start >= limit,
                self.slots[index].reportedLongLease != start
            else { continue }
            self.markLongLeaseReported(slotAt: index, start: start)
            found.append((self.slots[index].id, now - start))
        }
        return found
    }

    /// When `tick` should next run for the waiters: the earliest deadline, or the next
    /// handoff point.
    var nextWaiterDeadline: Deadline {
        min(self.waiters.earliestDeadline, self.nextHandoffPoint)
    }

    /// Retires connections past their lifetime (closing the idle ones now) and closes idle
    /// connections above the minimum that have been idle for `idleTimeout`; returns the
    /// connections to close.
    private mutating func retireAndCloseIdle(now: Deadline) -> [Connection] {
        var closing: [Connection] = []
        var live = self.liveCount
        for index in self.slots.indices {
            let slot = self.slots[index]
            guard slot.isReady else { continue }
            if let lifetime = slot.lifetime, now - slot.created >= lifetime {
                if slot.leases == 0 {
                    if let connection = self.close(slotAt: index, .lifetime) { closing.append(connection) }
                    live -= 1
                } else {
                    self.retire(slotAt: index, .lifetime)
                }
                continue
            }
            if slot.leases == 0, live > self.limits.minConnections, now - slot.idleSince >= self.limits.idleTimeout {
                if let connection = self.close(slotAt: index, .idle) { closing.append(connection) }
                live -= 1
            }
        }
        return closing
    }
}
