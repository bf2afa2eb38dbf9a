import Channels
import Testing

@testable import Pool

/// Connection lifetime hygiene in the loop's machine: why each connection closed (counted
/// exactly), lifetimes spread by jitter, a maximum of uses, and leases held too long. Times
/// are passed in; nothing sleeps.
@Suite("Connection hygiene")
struct ConnectionHygieneTests {
    static let start = Deadline(uptimeNanoseconds: 1_000_000_000_000)
    static func at(_ milliseconds: Int64) -> Deadline { start + .milliseconds(milliseconds) }

    static func machine(
        maxConnections: Int = 4, minConnections: Int = 0, maxLifetime: TimeAmount? = nil, jitter: Double = 0,
        maxUses: Int? = nil, longLease: TimeAmount? = nil
    ) -> TestMachine {
        TestMachine(
            limits: .init(
                maxConnections: maxConnections, maxLeasesPerConnection: 1, maxConnecting: maxConnections,
                maxWaiters: 100, minConnections: minConnections, idleTimeout: .seconds(60), maxLifetime: maxLifetime,
                handoffAfter: nil, measuresUseTime: longLease != nil, lifetimeJitter: jitter, maxUses: maxUses,
                longLease: longLease))
    }

    /// Caller `waiter` leases at `time`; when that asks for a connect, connection `name` is
    /// made and serves it. Returns the connection's id.
    @discardableResult
    static func lease(_ machine: inout TestMachine, _ waiter: Int, at time: Int64, making name: String? = nil) throws
        -> ConnectionID?
    {
        let (_, action) = machine.lease(waiter, now: at(time), deadline: at(time + 60_000))
        if let served = action.serve.first(where: { _ in true }) { return served.id }
        guard let name, let id = action.connect else { return nil }
        let connected = machine.connectSucceeded(id, FakeConnection(name), now: at(time))
        try #require(connected.serve.count == 1)
        return id
    }

    @Test(
        "the lease that reaches maxUses through leaseIfReady (the pooled get's path) gets the connection and retires it"
    )
    func maxUsesOnTheReadyPath() throws {
        var machine = Self.machine(maxUses: 2)
        let id = try #require(try Self.lease(&machine, 1, at: 0, making: "M"))
        _ = machine.release(id, now: Self.at(1)) { _ in true }
        let second = machine.leaseIfReady(now: Self.at(2))
        let leased = try #require(second, "its second use")
        #expect(leased.id == id)
        #expect(leased.connection.takeUnretainedValue().name == "M")
        #expect(machine.slots.first { $0.id == id }?.isReady == false, "retired at its second use")
        let third = machine.leaseIfReady(now: Self.at(3))
        #expect(third == nil, "a retiring connection is not leased again")
        #expect(machine.release(id, now: Self.at(4)) { _ in true }.close.map(\.name) == ["M"])
    }

    @Test("each reason is counted exactly: idle, lifetime, max uses, unusable, lost, rebalanced, shutdown")
    func closeReasons() throws {
        var machine = Self.machine(maxConnections: 8, maxLifetime: .seconds(3600), maxUses: 3)
        func closed(_ id: ConnectionID?, at time: Int64) {
            if let id { _ = machine.connectionClosed(id, now: Self.at(time)) }
        }
        // unusable: given back with `isReusable` false.
        let unusable = try Self.lease(&machine, 1, at: 0, making: "U")
        let u = machine.release(unusable!, now: Self.at(1)) { _ in false }
        #expect(u.close.map(\.name) == ["U"])
        closed(unusable, at: 2)
        // max uses: the third lease retires it; the release closes it.
        let worn = try Self.lease(&machine, 2, at: 10, making: "W")
        for caller in 3...4 {
            _ = machine.release(worn!, now: Self.at(11)) { _ in true }
            #expect(try Self.lease(&machine, caller, at: 12) == worn)
        }
        #expect(machine.slots.first { $0.id == worn }?.isReady == false, "retired at its third use")
        #expect(machine.release(worn!, now: Self.at(13)) { _ in true }.close.map(\.name) == ["W"])
        closed(worn, at: 14)
        // lost: it closes without the pool asking.
        let lost = try Self.lease(&machine, 5, at: 20, making: "L")
        closed(lost, at: 21)
        // idle: a connection idle past idleTimeout.
        let idle = try Self.lease(&machine, 6, at: 30, making: "I")
        _ = machine.release(idle!, now: Self.at(31)) { _ in true }
        #expect(machine.tick(now: Self.at(61_000)).close.map(\.name) == ["I"])
        closed(idle, at: 61_001)
        // rebalanced: an idle connection yielded to a starved loop.
        let given = try Self.lease(&machine, 7, at: 70_000, making: "R")
        _ = machine.release(given!, now: Self.at(70_001)) { _ in true }
        #expect(machine.yieldIdleConnection().close.map(\.name) == ["R"])
        closed(given, at: 70_002)
        // lifetime: past maxLifetime, idle.
        let old = try Self.lease(&machine, 8, at: 80_000, making: "O")
        _ = machine.release(old!, now: Self.at(80_001)) { _ in true }
        _ = machine.tick(now: Self.at(130_000)) // not yet idle for long enough, not yet old
        #expect(machine.tick(now: Self.at(80_000 + 3_600_000)).close.map(\.name) == ["O"])
        closed(old, at: 80_000 + 3_600_001)
        // shutdown: the idle ones at once, the leased one on release.
        let leased = try Self.lease(&machine, 9, at: 4_000_000, making: "S1")
        let spare = try Self.lease(&machine, 10, at: 4_000_000, making: "S2")
        _ = machine.release(spare!, now: Self.at(4_000_001)) { _ in true }
        #expect(machine.shutdown().close.map(\.name) == ["S2"])
        closed(spare, at: 4_000_002)
        #expect(machine.release(leased!, now: Self.at(4_000_003)) { _ in true }.close.map(\.name) == ["S1"])
        closed(leased, at: 4_000_004)

        let expected: [PoolCloseReason: Int] = [
            .unusable: 1, .maxUses: 1, .lost: 1, .idle: 1, .rebalanced: 1, .lifetime: 1, .shutdown: 2,
        ]
        #expect(machine.counters.closedBy == expected)
        #expect(machine.counters.closed == 8)
        // Every reason is covered here, but the keep-alive's (its own suite, below).
        #expect(Set(PoolCloseReason.allCases) == Set(expected.keys).union([.keepAliveFailed]))
    }

    @Test("lifetime jitter: 100 connections opened together get lifetimes spread over the configured window")
    func jitter() throws {
        var machine = Self.machine(maxConnections: 100, maxLifetime: .seconds(100), jitter: 0.2)
        for caller in 0..<100 { try Self.lease(&machine, caller, at: 0, making: "c\(caller)") }
        let lifetimes = machine.slots.compactMap(\.lifetime)
        #expect(lifetimes.count == 100)
        #expect(lifetimes.allSatisfy { $0 >= .seconds(80) && $0 <= .seconds(100) })
        // Spread, not bunched: the values cover most of the 20 s window, in many distinct seconds.
        let seconds = Set(lifetimes.map { $0.nanoseconds / 1_000_000_000 })
        #expect(seconds.count >= 10, "\(seconds.sorted())")
        #expect((lifetimes.max()! - lifetimes.min()!) >= .seconds(15))
        // Without jitter every connection gets exactly maxLifetime.
        var exact = Self.machine(maxConnections: 3, maxLifetime: .seconds(100))
        for caller in 0..<3 { try Self.lease(&exact, caller, at: 0, making: "e\(caller)") }
        #expect(exact.slots.allSatisfy { $0.lifetime == .seconds(100) })
        // A lifetime of "for ever" with the whole of it as jitter: within it, never a trap.
        var forever = Self.machine(maxConnections: 20, maxLifetime: .nanoseconds(.max), jitter: 1)
        for caller in 0..<20 { try Self.lease(&forever, caller, at: 0, making: "f\(caller)") }
        #expect(forever.slots.compactMap(\.lifetime).count == 20)
        #expect(forever.slots.allSatisfy { ($0.lifetime ?? .zero) >= .zero })
    }

    @Test("a lease held past the warning threshold is reported once, by the tick")
    func longLease() throws {
        var machine = Self.machine(longLease: .seconds(30))
        let id = try Self.lease(&machine, 1, at: 0, making: "A")
        #expect(machine.tick(now: Self.at(29_000)).longLeases.isEmpty)
        let reported = machine.tick(now: Self.at(31_000)).longLeases
        #expect(reported.map(\.id) == [id])
        #expect(reported.first?.heldFor == .seconds(31))
        #expect(machine.tick(now: Self.at(60_000)).longLeases.isEmpty, "once per lease")
        // Released and leased again: a new lease, reported again when it is held too long.
        _ = machine.release(id!, now: Self.at(61_000)) { _ in true }
        #expect(try Self.lease(&machine, 2, at: 62_000) == id)
        #expect(machine.tick(now: Self.at(93_000)).longLeases.map(\.id) == [id])
    }
}

/// Keep-alive pings of idle connections, in the loop's machine.
@Suite("Keep-alive pings")
struct KeepAliveMachineTests {
    static func at(_ milliseconds: Int64) -> Deadline { ConnectionHygieneTests.at(milliseconds) }

    static func machine(minConnections: Int = 0, idleTimeout: TimeAmount = .seconds(60)) -> TestMachine {
        TestMachine(
            limits: .init(
                maxConnections: 2, maxLeasesPerConnection: 1, maxConnecting: 2, maxWaiters: 100,
                minConnections: minConnections, idleTimeout: idleTimeout, maxLifetime: nil, handoffAfter: nil,
                keepAliveInterval: .seconds(10)))
    }

    @Test("an idle connection is pinged after the interval, again an interval after that; a busy one never")
    func pingsIdleOnly() throws {
        var machine = Self.machine()
        let id = try #require(try ConnectionHygieneTests.lease(&machine, 1, at: 0, making: "A"))
        // Leased: never pinged, however long.
        #expect(machine.tick(now: Self.at(30_000)).ping.isEmpty)
        _ = machine.release(id, now: Self.at(30_000)) { _ in true }
        #expect(machine.tick(now: Self.at(39_999)).ping.isEmpty)
        let first = machine.tick(now: Self.at(40_000)).ping
        #expect(first.map(\.connection.name) == ["A"])
        #expect(machine.idleCount == 0, "leased for the ping")
        #expect(machine.tick(now: Self.at(45_000)).ping.isEmpty, "one ping at a time")
        #expect(machine.pingEnded(id, now: Self.at(40_010)) { _ in true }.isEmpty)
        #expect(machine.idleCount == 1)
        #expect(machine.tick(now: Self.at(50_000)).ping.isEmpty)
        #expect(machine.tick(now: Self.at(50_010)).ping.map(\.id) == [id])
        #expect(machine.counters.leases == 1, "pings are not leases")
    }

    @Test("a ping does not count as use: idleTimeout still closes the connection")
    func pingIsNotUse() throws {
        var machine = Self.machine(idleTimeout: .seconds(25))
        let id = try #require(try ConnectionHygieneTests.lease(&machine, 1, at: 0, making: "A"))
        _ = machine.release(id, now: Self.at(0)) { _ in true }
        _ = machine.tick(now: Self.at(10_000))
        _ = machine.pingEnded(id, now: Self.at(10_001)) { _ in true }
        _ = machine.tick(now: Self.at(20_001))
        _ = machine.pingEnded(id, now: Self.at(20_002)) { _ in true }
        #expect(machine.tick(now: Self.at(25_000)).close.map(\.name) == ["A"])
        _ = machine.connectionClosed(id, now: Self.at(25_001))
        #expect(machine.counters.closedBy == [.idle: 1])
    }

    @Test("a failed or silent ping closes the connection (keepAliveFailed) and the minimum is reconnected")
    func pingFails() throws {
        var machine = Self.machine(minConnections: 1)
        let id = try #require(try ConnectionHygieneTests.lease(&machine, 1, at: 0, making: "A"))
        _ = machine.release(id, now: Self.at(0)) { _ in true }
        _ = machine.tick(now: Self.at(10_000))
        let failed = machine.pingFailed(id, now: Self.at(15_000))
        #expect(failed.close.map(\.name) == ["A"])
        #expect(failed.connect != nil, "a replacement for the minimum")
        // The answer that comes after the timeout changes nothing.
        #expect(machine.pingEnded(id, now: Self.at(15_001)) { _ in true }.isEmpty)
        _ = machine.connectionClosed(id, now: Self.at(15_002))
        #expect(machine.counters.closedBy == [.keepAliveFailed: 1])
    }

    @Test("a caller that comes during a ping is served when the ping ends")
    func callerDuringPing() throws {
        var machine = TestMachine(
            limits: .init(
                maxConnections: 1, maxLeasesPerConnection: 1, maxConnecting: 1, maxWaiters: 100, minConnections: 0,
                idleTimeout: .seconds(60), maxLifetime: nil, handoffAfter: nil, keepAliveInterval: .seconds(10)))
        let id = try #require(try ConnectionHygieneTests.lease(&machine, 1, at: 0, making: "A"))
        _ = machine.release(id, now: Self.at(0)) { _ in true }
        _ = machine.tick(now: Self.at(10_000))
        let (queued, action) = machine.lease(2, now: Self.at(10_001), deadline: Self.at(20_000))
        #expect(queued != nil && action.serve.isEmpty)
        let served = machine.pingEnded(id, now: Self.at(10_002)) { _ in true }
        #expect(served.serve.map(\.waiter) == [2])
    }

    @Test(
        "shared leases: a caller that comes during a ping is not put behind it on the pinged connection (a dead one would hold it until the ping times out); it waits, a connect is asked, and the ping's answer serves it"
    )
    func sharedConnectionDuringPing() throws {
        var machine = TestMachine(
            limits: .init(
                maxConnections: 2, maxLeasesPerConnection: 16, maxConnecting: 2, maxWaiters: 100, minConnections: 0,
                idleTimeout: .seconds(60), maxLifetime: nil, handoffAfter: nil, keepAliveInterval: .seconds(10)))
        let id = try #require(try ConnectionHygieneTests.lease(&machine, 1, at: 0, making: "A"))
        _ = machine.release(id, now: Self.at(0)) { _ in true }
        #expect(machine.tick(now: Self.at(10_000)).ping.map(\.id) == [id])
        #expect(machine.leaseIfReady() == nil, "the pinged connection is not handed out")
        let (queued, action) = machine.lease(2, now: Self.at(10_001), deadline: Self.at(20_000))
        #expect(queued != nil && action.serve.isEmpty)
        #expect(action.connect != nil, "room for another connection: it is asked for")
        let served = machine.pingEnded(id, now: Self.at(10_002)) { _ in true }
        #expect(served.serve.map(\.waiter) == [2])
        #expect(served.serve.map(\.id) == [id])
        // Answered, the connection is shared again.
        #expect(machine.leaseIfReady()?.id == id)
    }

    @Test(
        "shutdown closes a connection whose ping is unanswered at once, as an idle one; the ping's end changes nothing")
    func shutdownDuringPing() throws {
        var machine = Self.machine()
        let id = try #require(try ConnectionHygieneTests.lease(&machine, 1, at: 0, making: "A"))
        _ = machine.release(id, now: Self.at(0)) { _ in true }
        #expect(machine.tick(now: Self.at(10_000)).ping.map(\.id) == [id])
        #expect(machine.shutdown().close.map(\.name) == ["A"])
        #expect(machine.pingEnded(id, now: Self.at(10_001)) { _ in true }.isEmpty)
        #expect(machine.pingFailed(id, now: Self.at(10_002)).isEmpty)
        _ = machine.connectionClosed(id, now: Self.at(10_003))
        #expect(machine.isDrained)
    }
}
