import Channels

// Keep-alive: an idle connection is leased for a ping once it has been idle (or unpinged) for
// `keepAliveInterval`; the ping's answer gives the lease back as a caller's release would
// (without making the connection look freshly used), its failure or silence closes it.

extension LoopPoolMachine {
    /// The idle connections due a ping at `now`, each leased for it.
    mutating func duePings(now: Deadline) -> [(id: ConnectionID, connection: Connection)] {
        guard let interval = self.limits.keepAliveInterval, !self.isShuttingDown else { return [] }
        var due: [(id: ConnectionID, connection: Connection)] = []
        for index in self.slots.indices where self.slots[index].isIdle {
            let slot = self.slots[index]
            let quietSince = max(slot.idleSince, slot.lastPinged ?? .distantPast)
            guard now - quietSince >= interval, case .ready(let connection) = slot.state else { continue }
            self.startPing(slotAt: index)
            due.append((slot.id, connection))
        }
        return due
    }

    /// The ping of connection `id` was answered: the connection serves on (a waiter, if one
    /// queued meanwhile) unless `isReusable` says otherwise.
    mutating func pingEnded(_ id: ConnectionID, now: Deadline, isReusable: (_ isLastLease: Bool) -> Bool) -> Action {
        guard let index = self.index(of: id), self.slots[index].pinging else { return Action() }
        return self.endPing(slotAt: index, now: now, isReusable: isReusable)
    }

    /// The ping of connection `id` failed or was not answered in time: it closes, and a
    /// replacement connects if callers or the minimum want one.
    mutating func pingFailed(_ id: ConnectionID, now: Deadline) -> Action {
        guard let index = self.index(of: id), self.slots[index].pinging else { return Action() }
        self.abandonPing(slotAt: index)
        return Action(close: self.close(slotAt: index, .keepAliveFailed), connect: self.connectIfRoom(now: now))
    }
}
