import Channels
import Testing

@testable import Pool

/// A stand-in connection: the machine holds connections, it never calls them.
final class FakeConnection: CustomStringConvertible {
    let name: String
    init(_ name: String) { self.name = name }
    var description: String { self.name }
}

typealias TestMachine = LoopPoolMachine<FakeConnection, Int>

/// What an action says, flattened for comparison.
struct Said: Equatable, CustomStringConvertible {
    var served: [String] = []
    var failed: [String] = []
    var connect: ConnectionID?
    var closed: [String] = []
    var offered: [WaiterID] = []
    var yield = false

    init(_ action: TestMachine.Action) {
        self.served = action.serve.map {
            "\($0.waiter)→\($0.connection)" + ($0.waited.map { "@\($0.nanoseconds / 1_000_000)" } ?? "")
        }
        self.failed = action.fail.map { "\($0.waiter):\($0.error.code)" }
        self.connect = action.connect
        self.closed = action.close.map(\.name)
        self.offered = action.offerHandoff
        self.yield = action.askOthersToYield
    }

    init(
        served: [String] = [], failed: [String] = [], connect: ConnectionID? = nil, closed: [String] = [],
        offered: [WaiterID] = [], yield: Bool = false
    ) {
        self.served = served
        self.failed = failed
        self.connect = connect
        self.closed = closed
        self.offered = offered
        self.yield = yield
    }

    static let nothing = Said()
    var description: String {
        "served \(self.served) failed \(self.failed) connect \(self.connect.map { "\($0)" } ?? "-") closed \(self.closed) offered \(self.offered) yield \(self.yield)"
    }
}

/// The sub-pool's decisions, driven with explicit times: no loop, no socket, no sleeping.
@Suite struct LoopPoolMachineTests {
    static let start = Deadline(uptimeNanoseconds: 1_000_000_000_000)

    static func machine(
        maxConnections: Int = 2, leasesPerConnection: Int = 1, maxWaiters: Int = 100, minConnections: Int = 0,
        maxConnecting: Int = 2, handoffAfter: TimeAmount? = nil, maxLifetime: TimeAmount? = nil
    ) -> TestMachine {
        TestMachine(
            limits: .init(
                maxConnections: maxConnections, maxLeasesPerConnection: leasesPerConnection,
                maxConnecting: maxConnecting,
                maxWaiters: maxWaiters, minConnections: minConnections, idleTimeout: .seconds(60),
                maxLifetime: maxLifetime,
                handoffAfter: handoffAfter))
    }

    func at(_ milliseconds: Int64) -> Deadline { Self.start + .milliseconds(milliseconds) }

    /// Caller `waiter` asks at `time` with a deadline at `deadline`.
    func lease(
        _ machine: inout TestMachine, _ waiter: Int, at time: Int64, deadline: Int64 = 10_000, adopted: Bool = false
    ) -> (WaiterID?, Said) {
        let (queued, action) = machine.lease(waiter, now: self.at(time), deadline: self.at(deadline), adopted: adopted)
        return (queued, Said(action))
    }

    /// The first caller connects; the connection (named `name`) serves it once up.
    func leasedConnection(_ machine: inout TestMachine, _ name: String = "A") throws -> (ConnectionID, FakeConnection) {
        let (_, said) = self.lease(&machine, 0, at: 0)
        guard let id = said.connect else { throw TestFailure("the first lease should connect: \(said)") }
        let connection = FakeConnection(name)
        #expect(Said(machine.connectSucceeded(id, connection, now: self.at(1))) == Said(served: ["0→\(name)@1"]))
        return (id, connection)
    }

    @Test("a lease on an empty pool waits for a connect, which then serves it; released, it serves the next at once")
    func firstLeaseConnects() throws {
        var machine = Self.machine()
        let (id, _) = try self.leasedConnection(&machine)
        #expect(machine.leasedCount == 1)
        #expect(Said(machine.release(id, now: self.at(2)) { _ in true }) == .nothing)
        #expect(machine.idleCount == 1)
        #expect(self.lease(&machine, 1, at: 3).1 == Said(served: ["1→A"]))
        #expect(machine.counters.leases == 2)
    }

    @Test("waiters are served first in, first out as connections are released")
    func fifo() throws {
        var machine = Self.machine(maxConnections: 1)
        let (id, _) = try self.leasedConnection(&machine)
        for caller in 1...5 {
            let (queued, said) = self.lease(&machine, caller, at: 10 + Int64(caller))
            #expect(queued != nil && said == .nothing, "queued without connecting (at the cap)")
        }
        for caller in 1...5 {
            #expect(
                Said(machine.release(id, now: self.at(100)) { _ in true })
                    == Said(served: ["\(caller)→A@\(90 - caller)"]))
        }
        #expect(Said(machine.release(id, now: self.at(200)) { _ in true }) == .nothing)
        #expect(machine.counters.waitedLeases == 6)
    }

    @Test("past maxWaiters a lease fails at once with tooManyWaiters")
    func bound() throws {
        var machine = Self.machine(maxConnections: 1, maxWaiters: 2)
        _ = try self.leasedConnection(&machine)
        #expect(self.lease(&machine, 1, at: 5).0 != nil)
        #expect(self.lease(&machine, 2, at: 5).0 != nil)
        #expect(self.lease(&machine, 3, at: 5).1 == Said(failed: ["3:too many waiters"]))
    }

    @Test("a waiter times out at its own deadline, the others keep waiting")
    func timeout() throws {
        var machine = Self.machine(maxConnections: 1)
        _ = try self.leasedConnection(&machine)
        _ = self.lease(&machine, 1, at: 5, deadline: 50)
        let (long, _) = self.lease(&machine, 2, at: 6, deadline: 500)
        #expect(machine.nextWaiterDeadline == self.at(50))
        #expect(Said(machine.tick(now: self.at(49))) == .nothing)
        #expect(Said(machine.tick(now: self.at(50))) == Said(failed: ["1:lease timeout"]))
        #expect(long.map { machine.waiters.contains($0) } == true)
        #expect(Said(machine.tick(now: self.at(500))) == Said(failed: ["2:lease timeout"]))
        #expect(machine.waiters.isEmpty)
    }

    @Test("a cancelled waiter leaves with .cancelled, once; the next one is served")
    func cancel() throws {
        var machine = Self.machine(maxConnections: 1)
        let (id, _) = try self.leasedConnection(&machine)
        let (first, _) = self.lease(&machine, 1, at: 5)
        _ = self.lease(&machine, 2, at: 6)
        guard let first else { throw TestFailure("should queue") }
        #expect(Said(machine.cancel(first)) == Said(failed: ["1:cancelled"]))
        #expect(Said(machine.cancel(first)) == .nothing)
        #expect(Said(machine.release(id, now: self.at(10)) { _ in true }) == Said(served: ["2→A@4"]))
    }

    @Test(
        "an unusable connection is closed on release (asked whether it was the last lease) and replaced for the waiters"
    )
    func dirtyRelease() throws {
        var machine = Self.machine(maxConnections: 1, leasesPerConnection: 2)
        let (id, _) = try self.leasedConnection(&machine)
        #expect(self.lease(&machine, 1, at: 2).1 == Said(served: ["1→A"]))
        _ = self.lease(&machine, 2, at: 3)
        var asked: [Bool] = []
        // Still shared: reusable, so the waiter takes the freed lease.
        #expect(
            Said(
                machine.release(id, now: self.at(4)) {
                    asked.append($0)
                    return true
                }) == Said(served: ["2→A@1"]))
        #expect(
            Said(
                machine.release(id, now: self.at(5)) {
                    asked.append($0)
                    return true
                }) == .nothing)
        // The last lease leaves a reply outstanding: the connection is closed, not reused.
        #expect(
            Said(
                machine.release(id, now: self.at(6)) {
                    asked.append($0)
                    return false
                }) == Said(closed: ["A"]))
        #expect(asked == [false, false, true])
        // A caller now waits (the closing connection still counts against the cap) ...
        #expect(self.lease(&machine, 3, at: 7).1 == .nothing)
        // ... and the replacement connects for it once the close completes.
        let replaced = machine.connectionClosed(id, now: self.at(8))
        guard let replacement = replaced.connect else { throw TestFailure("should reconnect") }
        #expect(
            Said(machine.connectSucceeded(replacement, FakeConnection("B"), now: self.at(9))) == Said(served: ["3→B@2"])
        )
        #expect(machine.counters.closed == 1)
    }

    @Test("a failed connect fails the waiters only when nothing else can serve them, with the error as cause")
    func connectFailure() throws {
        struct Refused: Error {}
        var machine = Self.machine(maxConnections: 2)
        let (id, _) = try self.leasedConnection(&machine)
        let (_, grow) = self.lease(&machine, 1, at: 5)
        guard let connect = grow.connect else { throw TestFailure("should grow") }
        // One connection is leased: the waiter can still get it.
        #expect(Said(machine.connectFailed(connect, Refused(), now: self.at(6))) == .nothing)
        #expect(Said(machine.release(id, now: self.at(7)) { _ in true }) == Said(served: ["1→A@2"]))

        var empty = Self.machine()
        let (_, said) = self.lease(&empty, 7, at: 0)
        guard let only = said.connect else { throw TestFailure("should connect") }
        let failed = empty.connectFailed(only, Refused(), now: self.at(1))
        #expect(Said(failed) == Said(failed: ["7:connect failed"]))
        #expect(failed.fail.first?.error.cause is Refused)
        #expect(empty.counters.connectFailures == 1)
    }

    @Test("connects in flight are capped; each brings capacity for the queue; a late connection is closed unused")
    func connectCap() throws {
        var machine = Self.machine(maxConnections: 5, maxConnecting: 2)
        var connects: [ConnectionID] = []
        for caller in 0..<4 {
            if let connect = self.lease(&machine, caller, at: 0).1.connect { connects.append(connect) }
        }
        #expect(connects.count == 2)
        #expect(machine.connectingCount == 2)
        // The first connect serves one waiter and starts the next connect for the rest.
        let said = Said(machine.connectSucceeded(connects[0], FakeConnection("A"), now: self.at(1)))
        #expect(said.served == ["0→A@1"] && said.connect != nil)
        // A connect written off (timed out) and then succeeding is closed unused.
        struct TimedOut: Error {}
        _ = machine.connectFailed(connects[1], TimedOut(), now: self.at(2))
        #expect(
            Said(machine.connectSucceeded(connects[1], FakeConnection("late"), now: self.at(3)))
                == Said(closed: ["late"]))
    }

    @Test("shared connections are packed: the busiest with room serves, the loop grows only when all are full")
    func sharing() throws {
        var machine = Self.machine(maxConnections: 2, leasesPerConnection: 3)
        let (id, connection) = try self.leasedConnection(&machine)
        #expect(self.lease(&machine, 1, at: 2).1 == Said(served: ["1→A"]))
        #expect(machine.leaseIfReady()?.connection.takeUnretainedValue() === connection)
        #expect(machine.connectingCount == 0)
        // Full: the next caller waits and a second connection opens for it.
        let (_, said) = self.lease(&machine, 2, at: 3)
        guard let grow = said.connect else { throw TestFailure("should grow") }
        #expect(Said(machine.connectSucceeded(grow, FakeConnection("B"), now: self.at(4))) == Said(served: ["2→B@1"]))
        // One lease of the first connection ends: it is the busiest with room again.
        #expect(Said(machine.release(id, now: self.at(5)) { _ in true }) == .nothing)
        #expect(self.lease(&machine, 3, at: 6).1 == Said(served: ["3→A"]))
        #expect(self.lease(&machine, 4, at: 6).1 == Said(served: ["4→B"]))
        #expect(machine.activeLeases == 5)
    }

    @Test("the minimum is opened at start and kept after a connection dies; idle ones above it close after idleTimeout")
    func minimumAndIdle() throws {
        var machine = Self.machine(maxConnections: 3, minConnections: 1)
        guard let warm = Said(machine.tick(now: self.at(0))).connect else { throw TestFailure("should pre-warm") }
        #expect(Said(machine.connectSucceeded(warm, FakeConnection("A"), now: self.at(1))) == .nothing)
        #expect(Said(machine.tick(now: self.at(120_000))) == .nothing, "the minimum stays, idle or not")
        #expect(self.lease(&machine, 1, at: 120_001, deadline: 200_000).1 == Said(served: ["1→A"]))
        let (_, said) = self.lease(&machine, 2, at: 120_001, deadline: 200_000)
        guard let second = said.connect else { throw TestFailure("should grow") }
        _ = machine.connectSucceeded(second, FakeConnection("B"), now: self.at(120_002))
        _ = machine.release(warm, now: self.at(120_010)) { _ in true }
        _ = machine.release(second, now: self.at(120_010)) { _ in true }
        #expect(Said(machine.tick(now: self.at(150_000))) == .nothing)
        #expect(
            Said(machine.tick(now: self.at(190_000))).closed.count == 1, "one idle connection above the minimum closes")
        #expect(machine.idleCount == 1)
        // The one kept dies: a replacement opens for the minimum.
        guard let kept = machine.slots.first(where: { $0.isIdle })?.id else { throw TestFailure("one should stay") }
        let closed = machine.slots.first(where: { !$0.isLive })?.id
        if let closed { _ = machine.connectionClosed(closed, now: self.at(190_001)) }
        #expect(machine.connectionClosed(kept, now: self.at(190_002)).connect != nil)
    }

    @Test(
        "past maxLifetime an idle connection closes; a leased one retires: no new lease, closed when its last lease ends"
    )
    func lifetime() throws {
        var machine = Self.machine(maxConnections: 2, leasesPerConnection: 2, maxLifetime: .seconds(1))
        let (id, _) = try self.leasedConnection(&machine)
        #expect(Said(machine.tick(now: self.at(1500))) == .nothing)
        #expect(machine.slots.first?.isReady == false, "retiring")
        // A new caller does not get the retiring connection: a new one opens for it.
        let (_, said) = self.lease(&machine, 1, at: 1501)
        guard let fresh = said.connect else { throw TestFailure("should open a replacement") }
        #expect(
            Said(machine.connectSucceeded(fresh, FakeConnection("B"), now: self.at(1502))) == Said(served: ["1→B@1"]))
        #expect(Said(machine.release(id, now: self.at(1600)) { _ in true }) == Said(closed: ["A"]))
        // An idle connection past its lifetime closes at the tick.
        _ = machine.release(fresh, now: self.at(1700)) { _ in true }
        #expect(Said(machine.tick(now: self.at(2600))) == Said(closed: ["B"]))
    }

    @Test(
        "handoff: a waiter is offered after the threshold or close to its deadline, once per threshold; adopted ones never"
    )
    func handoff() throws {
        var machine = Self.machine(maxConnections: 1, handoffAfter: .milliseconds(20))
        _ = try self.leasedConnection(&machine)
        let (waiter, _) = self.lease(&machine, 1, at: 5, deadline: 1000)
        _ = self.lease(&machine, 2, at: 5, deadline: 1000, adopted: true)
        let (hurried, _) = self.lease(&machine, 3, at: 6, deadline: 30)
        guard let waiter, let hurried else { throw TestFailure("should queue") }
        #expect(
            machine.nextWaiterDeadline == self.at(10), "the hurried waiter is a candidate 20 ms before its deadline")
        #expect(Said(machine.tick(now: self.at(10))) == Said(offered: [hurried]))
        // One check per threshold: not before 30, however many waiters come due.
        #expect(machine.nextWaiterDeadline == self.at(30))
        #expect(Said(machine.tick(now: self.at(25))) == .nothing)
        #expect(Said(machine.tick(now: self.at(30))) == Said(failed: ["3:lease timeout"], offered: [waiter]))
        // Nobody took it: it is not offered again within the threshold.
        #expect(Said(machine.tick(now: self.at(50))) == Said(offered: [waiter]))
        #expect(machine.handOff(waiter) == 1)
        #expect(machine.handOff(waiter) == nil)
        #expect(Said(machine.tick(now: self.at(80))) == .nothing, "the adopted waiter stays put")
        #expect(machine.waiters.count == 1)
    }

    @Test(
        "budget: a refused connect starves the loop and asks the others to yield; freed budget connects; idle loops yield"
    )
    func budget() throws {
        var starving = Self.machine()
        let (_, said) = self.lease(&starving, 1, at: 0)
        guard let connect = said.connect else { throw TestFailure("should connect") }
        #expect(Said(starving.connectRefused(connect, .budget)) == Said(yield: true))
        #expect(starving.isStarved)
        #expect(starving.connectingCount == 0)
        #expect(starving.budgetFreed(now: self.at(1)).connect != nil)
        #expect(!starving.isStarved)

        var idle = Self.machine(minConnections: 0)
        let (id, _) = try self.leasedConnection(&idle)
        #expect(Said(idle.yieldIdleConnection()) == .nothing, "leased: nothing to give")
        _ = idle.release(id, now: self.at(2)) { _ in true }
        #expect(Said(idle.yieldIdleConnection()) == Said(closed: ["A"]))
        #expect(Said(idle.connectionClosed(id, now: self.at(3))) == .nothing)
    }

    @Test("the breaker's refusal fails the stranded waiters at once with its last error")
    func breaker() throws {
        struct Down: Error {}
        var machine = Self.machine()
        let (_, said) = self.lease(&machine, 1, at: 0)
        guard let connect = said.connect else { throw TestFailure("should connect") }
        let refused = machine.connectRefused(connect, .breaker(lastError: Down()))
        #expect(Said(refused) == Said(failed: ["1:connect failed"]))
        #expect(refused.fail.first?.error.cause is Down)
        #expect(machine.counters.connectFailures == 0, "a refusal is not a failure of its own")
    }

    @Test("shutdown fails waiters, closes idle connections now and leased ones on release; then it is drained")
    func shutdown() throws {
        var machine = Self.machine(maxConnections: 2)
        let (leased, _) = try self.leasedConnection(&machine)
        let (_, said) = self.lease(&machine, 1, at: 2)
        guard let connecting = said.connect else { throw TestFailure("should grow") }
        #expect(Said(machine.shutdown()) == Said(failed: ["1:pool shut down"]))
        #expect(Said(machine.connectSucceeded(connecting, FakeConnection("B"), now: self.at(3))) == Said(closed: ["B"]))
        #expect(Said(machine.release(leased, now: self.at(4)) { _ in true }) == Said(closed: ["A"]))
        #expect(self.lease(&machine, 2, at: 5).1 == Said(failed: ["2:pool shut down"]))
        #expect(!machine.isDrained)
        _ = machine.connectionClosed(leased, now: self.at(6))
        _ = machine.connectionClosed(connecting, now: self.at(6))
        #expect(machine.isDrained)
    }

    @Test("shutdown closes a shared connection with its last lease, not its first: the others' requests are in flight")
    func shutdownWaitsForEveryLeaseOfASharedConnection() throws {
        var machine = Self.machine(maxConnections: 1, leasesPerConnection: 4)
        let (id, _) = try self.leasedConnection(&machine)
        for waiter in 1...2 {
            let (_, said) = self.lease(&machine, waiter, at: 2)
            #expect(said == Said(served: ["\(waiter)→A"]))
        }
        #expect(Said(machine.shutdown()) == .nothing, "leased: not closed yet")
        #expect(Said(machine.release(id, now: self.at(3)) { _ in true }) == .nothing)
        #expect(Said(machine.release(id, now: self.at(3)) { _ in true }) == .nothing)
        #expect(Said(machine.release(id, now: self.at(4)) { _ in true }) == Said(closed: ["A"]))
    }

    @Test("forceClose closes leased connections too; a release after the connection died changes nothing")
    func forceCloseAndLateRelease() throws {
        var machine = Self.machine(maxConnections: 1)
        let (id, _) = try self.leasedConnection(&machine)
        _ = machine.shutdown()
        #expect(Said(machine.forceClose()) == Said(closed: ["A"]))
        _ = machine.connectionClosed(id, now: self.at(2))
        #expect(Said(machine.release(id, now: self.at(3)) { _ in true }) == .nothing)
        #expect(machine.isDrained)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
