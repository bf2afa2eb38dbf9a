import Channels
import Testing

@testable import Pool

/// The sub-pool's decisions, driven with explicit times: no loop, no socket, no sleeping.
@Suite struct LoopPoolStateMachineTests {
    static let start = Deadline(uptimeNanoseconds: 1_000_000_000_000)

    static func machine(
        maxConnections: Int = 2, leasesPerConnection: Int = 1, maxWaiters: Int = 100, minIdle: Int = 0,
        maxConnecting: Int = 2, handoffAfter: TimeAmount? = nil, maxLifetime: TimeAmount? = nil
    ) -> LoopPoolStateMachine {
        LoopPoolStateMachine(
            limits: .init(
                maxConnections: maxConnections, maxLeasesPerConnection: leasesPerConnection, maxConnecting: maxConnecting,
                maxWaiters: maxWaiters, minIdle: minIdle, idleTimeout: .seconds(60), maxLifetime: maxLifetime,
                handoffAfter: handoffAfter))
    }

    func at(_ milliseconds: Int64) -> Deadline { Self.start + .milliseconds(milliseconds) }
    func deadline(_ milliseconds: Int64) -> Deadline { self.at(milliseconds) }

    /// The first lease connects; the connection goes to the waiter once it is up.
    func leasedConnection(_ machine: inout LoopPoolStateMachine) throws -> ConnectionID {
        guard case .wait(let waiter, let connect?) = machine.lease(now: self.at(0), deadline: self.deadline(10_000)) else {
            throw TestFailure("the first lease should wait for a connect")
        }
        let actions = machine.connectSucceeded(connect, now: self.at(1))
        #expect(actions == [.lease(connect, to: waiter, waited: .milliseconds(1))])
        return connect
    }

    @Test("a lease on an empty pool waits for a connect, which then serves it")
    func firstLeaseConnects() throws {
        var machine = Self.machine()
        let id = try self.leasedConnection(&machine)
        #expect(machine.leasedCount == 1)
        #expect(machine.release(id, reusable: true, now: self.at(2)) == .keep)
        #expect(machine.idleCount == 1)
        #expect(machine.lease(now: self.at(3), deadline: self.deadline(10_000)) == .lease(id))
    }

    @Test("waiters are served first in, first out as connections are released")
    func fifo() throws {
        var machine = Self.machine(maxConnections: 1)
        let id = try self.leasedConnection(&machine)
        var queued: [WaiterID] = []
        for index in 0..<5 {
            guard case .wait(let waiter, nil) = machine.lease(now: self.at(10 + Int64(index)), deadline: self.deadline(10_000)) else {
                throw TestFailure("expected to queue without connecting (at the cap)")
            }
            queued.append(waiter)
        }
        for (index, waiter) in queued.enumerated() {
            let decision = machine.release(id, reusable: true, now: self.at(100))
            #expect(decision == .handTo(waiter, waited: .milliseconds(90 - Int64(index))))
        }
        #expect(machine.release(id, reusable: true, now: self.at(200)) == .keep)
        #expect(machine.counters.waitedLeases == 6)
    }

    @Test("past maxWaiters a lease fails at once")
    func bound() throws {
        var machine = Self.machine(maxConnections: 1, maxWaiters: 2)
        _ = try self.leasedConnection(&machine)
        for _ in 0..<2 {
            guard case .wait = machine.lease(now: self.at(5), deadline: self.deadline(100)) else { throw TestFailure("should queue") }
        }
        #expect(machine.lease(now: self.at(5), deadline: self.deadline(100)) == .fail(.tooManyWaiters))
    }

    @Test("a waiter times out at its own deadline, the others keep waiting")
    func timeout() throws {
        var machine = Self.machine(maxConnections: 1)
        _ = try self.leasedConnection(&machine)
        guard case .wait(let short, _) = machine.lease(now: self.at(5), deadline: self.deadline(50)),
            case .wait(let long, _) = machine.lease(now: self.at(6), deadline: self.deadline(500))
        else { throw TestFailure("both should queue") }
        #expect(machine.nextWaiterDeadline == self.deadline(50))
        #expect(machine.tick(now: self.at(49)) == [])
        #expect(machine.tick(now: self.at(50)) == [.fail(short, .leaseTimeout)])
        #expect(machine.waiters.contains(long))
        #expect(machine.tick(now: self.at(500)) == [.fail(long, .leaseTimeout)])
        #expect(machine.waiters.isEmpty)
    }

    @Test("a cancelled waiter is removed and skipped")
    func cancel() throws {
        var machine = Self.machine(maxConnections: 1)
        let id = try self.leasedConnection(&machine)
        guard case .wait(let first, _) = machine.lease(now: self.at(5), deadline: self.deadline(1000)),
            case .wait(let second, _) = machine.lease(now: self.at(6), deadline: self.deadline(1000))
        else { throw TestFailure("both should queue") }
        let cancelled = machine.cancel(first)
        let cancelledTwice = machine.cancel(first)
        #expect(cancelled && !cancelledTwice)
        #expect(machine.release(id, reusable: true, now: self.at(10)) == .handTo(second, waited: .milliseconds(4)))
    }

    @Test("an unusable connection is closed on release and replaced for the waiters")
    func dirtyRelease() throws {
        var machine = Self.machine(maxConnections: 1)
        let id = try self.leasedConnection(&machine)
        guard case .wait(let waiter, nil) = machine.lease(now: self.at(5), deadline: self.deadline(1000)) else {
            throw TestFailure("should queue")
        }
        #expect(machine.release(id, reusable: false, now: self.at(6)) == .close(id, thenConnect: nil))
        // The slot is freed when the close completes; then the replacement connects.
        guard let replacement = machine.connectionClosed(id, now: self.at(7)) else { throw TestFailure("should reconnect") }
        #expect(machine.connectSucceeded(replacement, now: self.at(8)) == [.lease(replacement, to: waiter, waited: .milliseconds(3))])
        #expect(machine.counters.closed == 1)
    }

    @Test("a failed connect fails the waiters only when nothing else can serve them")
    func connectFailure() throws {
        var machine = Self.machine(maxConnections: 2)
        let id = try self.leasedConnection(&machine)
        guard case .wait(let waiter, let connect?) = machine.lease(now: self.at(5), deadline: self.deadline(1000)) else {
            throw TestFailure("should queue and grow")
        }
        // One connection is leased: the waiter can still get it.
        #expect(machine.connectFailed(connect) == [])
        #expect(machine.release(id, reusable: true, now: self.at(6)) == .handTo(waiter, waited: .milliseconds(1)))

        var empty = Self.machine()
        guard case .wait(let alone, let only?) = empty.lease(now: self.at(0), deadline: self.deadline(1000)) else {
            throw TestFailure("should connect")
        }
        #expect(empty.connectFailed(only) == [.fail(alone, .connectFailed)])
        #expect(empty.counters.connectFailures == 1)
    }

    @Test("connects in flight are capped; each brings capacity for the queue")
    func connectCap() throws {
        var machine = Self.machine(maxConnections: 5, maxConnecting: 2)
        var connects: [ConnectionID] = []
        for _ in 0..<4 {
            guard case .wait(_, let connect) = machine.lease(now: self.at(0), deadline: self.deadline(1000)) else {
                throw TestFailure("should queue")
            }
            if let connect { connects.append(connect) }
        }
        #expect(connects.count == 2)
        #expect(machine.connectingCount == 2)
        // The first connect serves one waiter and starts the next connect for the rest.
        let actions = machine.connectSucceeded(connects[0], now: self.at(1))
        #expect(actions.count == 2)
        guard case .connect = actions.last else { throw TestFailure("should start another connect") }
    }

    @Test("shared connections are packed: the busiest with room serves, the loop grows only when all are full")
    func sharing() throws {
        var machine = Self.machine(maxConnections: 2, leasesPerConnection: 3)
        let id = try self.leasedConnection(&machine)
        #expect(machine.lease(now: self.at(2), deadline: self.deadline(1000)) == .lease(id))
        #expect(machine.leaseIfReady() == id)
        #expect(machine.connectingCount == 0)
        // Full: the next caller waits and a second connection opens for it.
        guard case .wait(let waiter, let grow?) = machine.lease(now: self.at(3), deadline: self.deadline(1000)) else {
            throw TestFailure("should wait for a new connection")
        }
        #expect(machine.connectSucceeded(grow, now: self.at(4)) == [.lease(grow, to: waiter, waited: .milliseconds(1))])
        // One lease of the first connection ends: it is the busiest with room again.
        #expect(machine.release(id, reusable: true, now: self.at(5)) == .keep)
        #expect(machine.lease(now: self.at(6), deadline: self.deadline(1000)) == .lease(id))
        #expect(machine.lease(now: self.at(6), deadline: self.deadline(1000)) == .lease(grow))
        #expect(machine.activeLeases == 5)
    }

    @Test("idle connections above the minimum close after the idle timeout; the minimum is pre-warmed")
    func idleAndMinimum() throws {
        var machine = Self.machine(maxConnections: 3, minIdle: 1)
        guard case .connect(let warm) = machine.tick(now: self.at(0)).first else { throw TestFailure("should pre-warm") }
        #expect(machine.connectSucceeded(warm, now: self.at(1)) == [])
        #expect(machine.tick(now: self.at(120_000)) == [])  // the minimum stays
        #expect(machine.lease(now: self.at(120_001), deadline: self.deadline(200_000)) == .lease(warm))
        guard case .wait(let waiter, let second?) = machine.lease(now: self.at(120_001), deadline: self.deadline(200_000)) else {
            throw TestFailure("the second caller should wait for a second connection")
        }
        #expect(machine.connectSucceeded(second, now: self.at(120_002)) == [.lease(second, to: waiter, waited: .milliseconds(1))])
        _ = machine.release(warm, reusable: true, now: self.at(120_010))
        _ = machine.release(second, reusable: true, now: self.at(120_010))
        #expect(machine.tick(now: self.at(150_000)) == [])
        let actions = machine.tick(now: self.at(190_000))
        #expect(actions.count == 1)
        #expect(machine.idleCount == 1)
    }

    @Test("a connection past its lifetime closes when released")
    func lifetime() throws {
        var machine = Self.machine(maxLifetime: .seconds(1))
        let id = try self.leasedConnection(&machine)
        #expect(machine.release(id, reusable: true, now: self.at(2000)) == .close(id, thenConnect: nil))
    }

    @Test("a saturated loop offers waiters that waited past the threshold, once")
    func handoff() throws {
        var machine = Self.machine(maxConnections: 1, handoffAfter: .milliseconds(20))
        _ = try self.leasedConnection(&machine)
        guard case .wait(let waiter, _) = machine.lease(now: self.at(5), deadline: self.deadline(1000)),
            case .wait(let adopted, _) = machine.lease(now: self.at(5), deadline: self.deadline(1000), adopted: true)
        else { throw TestFailure("should queue") }
        #expect(machine.nextWaiterDeadline == self.at(25))
        #expect(machine.tick(now: self.at(10)) == [])
        #expect(machine.tick(now: self.at(30)) == [.offerHandoff(waiter)])
        // No loop took it: the next offer comes one threshold later, not in a busy loop.
        #expect(machine.tick(now: self.at(31)) == [])
        #expect(machine.nextWaiterDeadline == self.at(50))
        #expect(machine.tick(now: self.at(50)) == [.offerHandoff(waiter)])
        let handedOff = machine.handedOff(waiter)
        #expect(handedOff)
        #expect(machine.tick(now: self.at(80)) == [])  // adopted waiters stay put
        #expect(machine.waiters.contains(adopted))
    }

    @Test("budget: denied connects starve the loop; freed budget resumes them; idle loops yield")
    func budget() throws {
        var starving = Self.machine()
        guard case .wait(_, let connect?) = starving.lease(now: self.at(0), deadline: self.deadline(1000)) else {
            throw TestFailure("should connect")
        }
        starving.connectDenied(connect)
        #expect(starving.isStarved)
        #expect(starving.connectingCount == 0)
        #expect(starving.budgetFreed(now: self.at(1)) != nil)
        #expect(!starving.isStarved)

        var idle = Self.machine()
        let id = try self.leasedConnection(&idle)
        #expect(idle.yieldIdleConnection() == nil)  // leased: nothing to give
        _ = idle.release(id, reusable: true, now: self.at(2))
        #expect(idle.yieldIdleConnection() == id)
        #expect(idle.connectionClosed(id, now: self.at(3)) == nil)
    }

    @Test("shutdown fails waiters, closes idle connections, and closes leased ones on release")
    func shutdown() throws {
        var machine = Self.machine(maxConnections: 2)
        let leased = try self.leasedConnection(&machine)
        guard case .wait(let waiter, let connecting?) = machine.lease(now: self.at(2), deadline: self.deadline(1000)) else {
            throw TestFailure("should queue and grow")
        }
        #expect(machine.shutdown() == [.fail(waiter, .shutdown)])
        #expect(machine.connectSucceeded(connecting, now: self.at(3)) == [.close(connecting)])
        #expect(machine.release(leased, reusable: true, now: self.at(4)) == .close(leased, thenConnect: nil))
        #expect(machine.lease(now: self.at(5), deadline: self.deadline(1000)) == .fail(.shutdown))
        _ = machine.connectionClosed(leased, now: self.at(6))
        _ = machine.connectionClosed(connecting, now: self.at(6))
        #expect(machine.slots.isEmpty)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
