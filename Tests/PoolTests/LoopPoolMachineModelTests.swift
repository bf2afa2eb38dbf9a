import Channels
import Testing

@testable import Pool

/// Drives a machine with long random sequences of events — leases, releases (clean and
/// dirty), cancels, time passing, connect successes, failures and refusals, connections
/// dying, yields, handoffs, shutdown — executing its actions the way `LoopPool` would, and
/// checks its books against a model after every step.
@Suite struct LoopPoolMachineModelTests {
    /// What the executor knows, kept independently of the machine.
    private struct Model {
        var waiting: [Int: Int64] = [:]           // waiter -> deadline (ms)
        var resolved: [Int: String] = [:]         // waiter -> how it ended
        var held: [(waiter: Int, id: ConnectionID)] = []
        var connecting: Set<ConnectionID> = []
        var open: [ConnectionID: FakeConnection] = [:]
        var closing: [ConnectionID] = []
        var slotOf: [ObjectIdentifier: ConnectionID] = [:]
        var nextName = 0

        mutating func resolve(_ waiter: Int, _ outcome: String) {
            #expect(self.resolved[waiter] == nil, "waiter \(waiter) resolved twice: \(self.resolved[waiter] ?? "") then \(outcome)")
            self.resolved[waiter] = outcome
            self.waiting[waiter] = nil
        }
    }

    private struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
        mutating func chance(_ percent: Int) -> Bool { self.next(100) < percent }
    }

    private static let start = Deadline(uptimeNanoseconds: 1_000_000_000_000)
    private static func at(_ milliseconds: Int64) -> Deadline { start + .milliseconds(milliseconds) }
    private struct Failure: Error {}

    @Test("random event sequences keep counts exact, caps held, every waiter served, failed or waiting within its deadline, nothing leaked")
    func randomSequences() {
        for seed in 1...300 {
            self.run(seed: UInt64(seed))
        }
    }

    private func run(seed: UInt64) {
        var random = Random(state: seed)
        let limits = TestMachine.Limits(
            maxConnections: 1 + random.next(4), maxLeasesPerConnection: 1 + random.next(4), maxConnecting: 1 + random.next(2),
            maxWaiters: 1 + random.next(12), minConnections: random.next(2), idleTimeout: .milliseconds(Int64(50 + random.next(200))),
            maxLifetime: random.chance(50) ? .milliseconds(Int64(100 + random.next(400))) : nil,
            handoffAfter: random.chance(50) ? .milliseconds(Int64(5 + random.next(30))) : nil,
            measuresUseTime: random.chance(50))
        var machine = TestMachine(limits: limits)
        var model = Model()
        var now: Int64 = 0
        var nextWaiter = 0

        func apply(_ action: TestMachine.Action) {
            for serve in action.serve {
                model.resolve(serve.waiter, "served")
                model.held.append((serve.waiter, serve.id))
            }
            for (waiter, error) in action.fail { model.resolve(waiter, "\(error.code)") }
            if let id = action.connect {
                #expect(!model.connecting.contains(id))
                model.connecting.insert(id)
            }
            for connection in action.close {
                guard let id = model.slotOf[ObjectIdentifier(connection)] else {
                    Issue.record("seed \(seed): closing a connection the machine never had")
                    continue
                }
                if !model.closing.contains(id) { model.closing.append(id) }
            }
            for id in action.offerHandoff where random.chance(50) {
                if let waiter = machine.handOff(id) { model.resolve(waiter, "handed off") }
            }
        }

        for step in 0..<600 {
            switch random.next(100) {
            case 0..<30:  // a caller asks
                nextWaiter += 1
                let deadline = now + Int64(5 + random.next(300))
                let (queued, action) = machine.lease(nextWaiter, now: Self.at(now), deadline: Self.at(deadline))
                if queued != nil { model.waiting[nextWaiter] = deadline }
                apply(action)
            case 30..<33:  // the fast path
                if let (id, _) = machine.leaseIfReady(now: Self.at(now)) {
                    nextWaiter += 1
                    model.resolved[nextWaiter] = "served"
                    model.held.append((nextWaiter, id))
                }
            case 33..<55:  // a caller gives its lease back, clean or dirty
                guard !model.held.isEmpty else { continue }
                let lease = model.held.remove(at: random.next(model.held.count))
                let clean = random.chance(85)
                let live = machine.slots.contains { $0.id == lease.id && $0.leases > 0 }
                let action = machine.release(lease.id, now: Self.at(now)) { _ in clean }
                // A release of a live lease says how long it was held, when measured.
                #expect((action.used != nil) == (limits.measuresUseTime && live), "seed \(seed) step \(step)")
                #expect((action.used?.nanoseconds ?? 0) >= 0)
                apply(action)
            case 55..<65:  // a connect ends
                let pending = model.connecting.sorted { $0.value < $1.value }
                guard !pending.isEmpty else { continue }
                let id = pending[random.next(pending.count)]
                model.connecting.remove(id)
                switch random.next(10) {
                case 0..<6:
                    model.nextName += 1
                    let connection = FakeConnection("c\(model.nextName)")
                    model.slotOf[ObjectIdentifier(connection)] = id
                    model.open[id] = connection
                    apply(machine.connectSucceeded(id, connection, now: Self.at(now)))
                case 6..<8: apply(machine.connectFailed(id, Failure(), now: Self.at(now)))
                case 8: apply(machine.connectRefused(id, .budget))
                default: apply(machine.connectRefused(id, .breaker(lastError: Failure())))
                }
            case 65..<72:  // a close the machine asked for completes
                guard !model.closing.isEmpty else { continue }
                let id = model.closing.removeFirst()
                model.open[id] = nil
                apply(machine.connectionClosed(id, now: Self.at(now)))
            case 72..<75:  // a connection dies under its callers
                let live = model.open.keys.filter { !model.closing.contains($0) }.sorted { $0.value < $1.value }
                guard !live.isEmpty else { continue }
                let id = live[random.next(live.count)]
                model.open[id] = nil
                apply(machine.connectionClosed(id, now: Self.at(now)))
            case 75..<80:  // a waiter's task is cancelled
                let waiters = model.waiting.keys.sorted()
                guard !waiters.isEmpty else { continue }
                let waiter = waiters[random.next(waiters.count)]
                let id = machine.waiters.select(limit: .max) { $0.waiter == waiter }.first
                if let id { apply(machine.cancel(id)) }
            case 80..<83:
                apply(machine.budgetFreed(now: Self.at(now)))
            case 83..<85:
                apply(machine.yieldIdleConnection())
            default:  // time passes
                now += Int64(random.next(40))
                apply(machine.tick(now: Self.at(now)))
                for (waiter, deadline) in model.waiting {
                    #expect(deadline > now, "seed \(seed) step \(step): waiter \(waiter) still waits past its deadline")
                }
            }
            self.check(machine, model, limits, seed: seed, step: step)
        }

        // Wind down: shut down, give every lease back, finish every connect and close.
        apply(machine.shutdown())
        #expect(model.waiting.isEmpty, "seed \(seed): shutdown leaves no waiter")
        for lease in model.held { apply(machine.release(lease.id, now: Self.at(now)) { _ in true }) }
        model.held.removeAll()
        for id in model.connecting { apply(machine.connectFailed(id, Failure(), now: Self.at(now))) }
        model.connecting.removeAll()
        apply(machine.forceClose())
        while !model.closing.isEmpty {
            let id = model.closing.removeFirst()
            apply(machine.connectionClosed(id, now: Self.at(now)))
        }
        for id in model.open.keys where machine.index(of: id) != nil { apply(machine.connectionClosed(id, now: Self.at(now))) }
        #expect(machine.isDrained, "seed \(seed): slots left \(machine.slots.map(\.id))")
        #expect(model.resolved.count == nextWaiter, "seed \(seed): every caller got an answer")
        let counters = machine.counters
        #expect(counters.leases == model.resolved.values.filter { $0 == "served" }.count, "seed \(seed)")
    }

    private func check(_ machine: TestMachine, _ model: Model, _ limits: TestMachine.Limits, seed: UInt64, step: Int) {
        let context = "seed \(seed) step \(step)"
        #expect(machine.slots.count <= limits.maxConnections, "\(context): over the cap")
        #expect(machine.connectingCount <= limits.maxConnecting, "\(context): too many connects")
        #expect(machine.slots.allSatisfy { $0.leases <= limits.maxLeasesPerConnection }, "\(context): a connection over its leases")
        // Every lease has its start, and nothing else does (use time pairs them).
        #expect(
            machine.slots.allSatisfy { $0.leaseStarts.count == (limits.measuresUseTime ? $0.leases : 0) },
            "\(context): lease starts disagree with leases")
        #expect(Set(machine.slots.filter(\.isConnecting).map(\.id)) == model.connecting, "\(context): connects disagree")
        let heldOnLiveSlots = model.held.filter { lease in machine.slots.contains { $0.id == lease.id } }.count
        #expect(machine.activeLeases == heldOnLiveSlots, "\(context): leases disagree")
        #expect(machine.waiters.count == model.waiting.count, "\(context): waiters disagree")
        #expect(machine.waiters.count <= limits.maxWaiters, "\(context): too many waiters")
        let open = machine.counters.created - machine.counters.closed
        #expect(open == machine.slots.filter { !$0.isConnecting }.count, "\(context): created - closed ≠ open")
        // A waiter waits only when nothing could serve it now, and only for something that
        // will come: a connection (busy, opening or closing to make room), or budget.
        if !machine.waiters.isEmpty {
            #expect(machine.bestReadySlot() == nil, "\(context): a waiter waits beside a free connection")
            #expect(!machine.slots.isEmpty || machine.isStarved, "\(context): waiters wait for nothing")
        }
    }
}
