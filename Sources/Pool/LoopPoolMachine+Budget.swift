import Channels

// The pool-wide cap and the connect breaker, as events of a loop's machine.
//
// Before starting a connect the machine asked for, the loop reserves a unit of the pool-wide
// budget (`maxConnections` over all loops) and asks the breaker; either may refuse. A loop
// refused by the budget while it has waiters is starved: it asks the other loops to give
// back an idle connection (`yieldIdleConnection`), and the unit that comes back
// (`budgetFreed`) lets it connect. A refusal by the breaker (the server is down) fails the
// waiters that nothing else could serve, at once, with the last connect error.

extension LoopPoolMachine {
    /// Why a connect the machine asked for did not start.
    enum ConnectRefusal {
        /// The pool-wide cap is reached (other loops hold the connections).
        case budget
        /// The breaker is open: the server failed recently; this is its last error.
        case breaker(lastError: any Error)
    }

    /// The connect of slot `id` was refused before it started.
    mutating func connectRefused(_ id: ConnectionID, _ refusal: ConnectRefusal) -> Action {
        guard let index = self.index(of: id), self.slots[index].isConnecting else { return Action() }
        self.removeSlot(at: index)
        switch refusal {
        case .budget:
            self.isStarved = !self.waiters.isEmpty
            var action = Action()
            action.askOthersToYield = self.isStarved
            return action
        case .breaker(let lastError):
            self.lastConnectError = lastError
            return self.failWaitersIfStranded()
        }
    }

    /// A unit of budget came back somewhere in the pool: a starved loop connects now.
    mutating func budgetFreed(now: Deadline) -> Action {
        self.isStarved = false
        return Action(connect: self.connectIfRoom(now: now))
    }

    /// Another loop is starved: close one idle connection (the budget unit goes back to the
    /// pool), if this loop has no waiters and stays at or above its minimum.
    mutating func yieldIdleConnection() -> Action {
        guard self.waiters.isEmpty, self.liveCount > self.limits.minConnections,
            let index = self.slots.lastIndex(where: { $0.isIdle })
        else { return Action() }
        return Action(close: self.close(slotAt: index, .rebalanced))
    }
}
