// Shared by the model test (LoopPoolMachineModelTests, seeded choices) and the fuzz harness
// (Fuzz/Sources/FuzzPoolStateMachine links this file: the fuzzer's bytes are the choices).
import Channels

@testable import Pool

/// Where a model run's choices come from.
protocol ModelChoices {
    /// A number in 0..<bound.
    mutating func next(_ bound: Int) -> Int
}

extension ModelChoices {
    mutating func chance(_ percent: Int) -> Bool { self.next(100) < percent }
}

/// Choices from a seeded generator (splitmix64): the same seed, the same run.
struct SeededChoices: ModelChoices {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}

/// Choices from a fuzzer's input, a byte each (two for bounds over 256); zeros once it is
/// used up.
struct ByteChoices: ModelChoices {
    var bytes: ArraySlice<UInt8>
    var isExhausted: Bool { self.bytes.isEmpty }
    mutating func next(_ bound: Int) -> Int {
        var value = Int(self.bytes.popFirst() ?? 0)
        if bound > 256 { value = value << 8 | Int(self.bytes.popFirst() ?? 0) }
        return value % bound
    }
}

/// A connection the model hands the machine: the machine holds connections, never calls them.
final class ModelConnection {
    let name: String
    init(_ name: String) { self.name = name }
}

/// Drives a loop's machine with a sequence of events — leases, releases (clean and dirty),
/// cancels, time passing, connect successes, failures and refusals, connections dying,
/// yields, handoffs, shutdown — executing its actions the way `LoopPool` would, and checks
/// its books against an independent model after every step; then winds it down and checks
/// that every caller got exactly one answer and nothing is left open.
struct LoopPoolMachineModelRun<Choices: ModelChoices> {
    typealias Machine = LoopPoolMachine<ModelConnection, Int>

    /// What the executor knows, kept independently of the machine.
    private struct Model {
        var waiting: [Int: Int64] = [:] // waiter -> deadline (ms)
        var resolved: [Int: String] = [:] // waiter -> how it ended
        var held: [(waiter: Int, id: ConnectionID)] = []
        var connecting: Set<ConnectionID> = []
        var open: [ConnectionID: ModelConnection] = [:]
        var closing: [ConnectionID] = []
        var slotOf: [ObjectIdentifier: ConnectionID] = [:]
        var nextName = 0
    }

    private struct Failure: Error {}
    private static var start: Deadline { Deadline(uptimeNanoseconds: 1_000_000_000_000) }
    private static func at(_ milliseconds: Int64) -> Deadline { start + .milliseconds(milliseconds) }

    private var choices: Choices
    private let label: String
    /// Called with a description of each broken invariant.
    private let report: (String) -> Void
    private let limits: Machine.Limits
    private var machine: Machine
    private var model = Model()
    private var now: Int64 = 0
    private var nextWaiter = 0

    init(choices: Choices, label: String, report: @escaping (String) -> Void) {
        var choices = choices
        self.limits = Machine.Limits(
            maxConnections: 1 + choices.next(4), maxLeasesPerConnection: 1 + choices.next(4),
            maxConnecting: 1 + choices.next(2),
            maxWaiters: 1 + choices.next(12), minConnections: choices.next(2),
            idleTimeout: .milliseconds(Int64(50 + choices.next(200))),
            maxLifetime: choices.chance(50) ? .milliseconds(Int64(100 + choices.next(400))) : nil,
            handoffAfter: choices.chance(50) ? .milliseconds(Int64(5 + choices.next(30))) : nil,
            measuresUseTime: choices.chance(50))
        self.choices = choices
        self.label = label
        self.report = report
        self.machine = Machine(limits: self.limits)
    }

    private func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { self.report("\(self.label): \(message())") }
    }

    /// Runs `steps` events (or until `stop` says so), then the wind-down.
    mutating func run(steps: Int, stop: (Choices) -> Bool = { _ in false }) {
        for step in 0..<steps where !stop(self.choices) {
            self.step(step)
            self.check(step: step)
        }
        self.windDown()
    }

    private mutating func resolve(_ waiter: Int, _ outcome: String) {
        self.expect(
            self.model.resolved[waiter] == nil,
            "waiter \(waiter) resolved twice: \(self.model.resolved[waiter] ?? "") then \(outcome)")
        self.model.resolved[waiter] = outcome
        self.model.waiting[waiter] = nil
    }

    private mutating func apply(_ action: Machine.Action) {
        for serve in action.serve {
            self.resolve(serve.waiter, "served")
            self.model.held.append((serve.waiter, serve.id))
        }
        for (waiter, error) in action.fail { self.resolve(waiter, "\(error.code)") }
        if let id = action.connect {
            self.expect(!self.model.connecting.contains(id), "connect \(id) asked for twice")
            self.model.connecting.insert(id)
        }
        for connection in action.close {
            guard let id = self.model.slotOf[ObjectIdentifier(connection)] else {
                self.report("\(self.label): closing a connection the machine never had")
                continue
            }
            if !self.model.closing.contains(id) { self.model.closing.append(id) }
        }
        for id in action.offerHandoff where self.choices.chance(50) {
            if let waiter = self.machine.handOff(id) { self.resolve(waiter, "handed off") }
        }
    }

    private mutating func step(_ step: Int) {
        let at = Self.at(self.now)
        switch self.choices.next(100) {
        case 0..<30: // a caller asks
            self.nextWaiter += 1
            let deadline = self.now + Int64(5 + self.choices.next(300))
            let (queued, action) = self.machine.lease(self.nextWaiter, now: at, deadline: Self.at(deadline))
            if queued != nil { self.model.waiting[self.nextWaiter] = deadline }
            self.apply(action)
        case 30..<33: // the fast path
            if let (id, _) = self.machine.leaseIfReady(now: at) {
                self.nextWaiter += 1
                self.model.resolved[self.nextWaiter] = "served"
                self.model.held.append((self.nextWaiter, id))
            }
        case 33..<55: // a caller gives its lease back, clean or dirty
            guard !self.model.held.isEmpty else { return }
            let lease = self.model.held.remove(at: self.choices.next(self.model.held.count))
            let clean = self.choices.chance(85)
            let live = self.machine.slots.contains { $0.id == lease.id && $0.leases > 0 }
            let action = self.machine.release(lease.id, now: at) { _ in clean }
            // A release of a live lease says how long it was held, when measured.
            self.expect(
                (action.used != nil) == (self.limits.measuresUseTime && live), "step \(step): use time of a release")
            self.expect((action.used?.nanoseconds ?? 0) >= 0, "step \(step): a negative use time")
            self.apply(action)
        case 55..<65: // a connect ends
            let pending = self.model.connecting.sorted { $0.value < $1.value }
            guard !pending.isEmpty else { return }
            let id = pending[self.choices.next(pending.count)]
            self.model.connecting.remove(id)
            switch self.choices.next(10) {
            case 0..<6:
                self.model.nextName += 1
                let connection = ModelConnection("c\(self.model.nextName)")
                self.model.slotOf[ObjectIdentifier(connection)] = id
                self.model.open[id] = connection
                self.apply(self.machine.connectSucceeded(id, connection, now: at))
            case 6..<8: self.apply(self.machine.connectFailed(id, Failure(), now: at))
            case 8: self.apply(self.machine.connectRefused(id, .budget))
            default: self.apply(self.machine.connectRefused(id, .breaker(lastError: Failure())))
            }
        case 65..<72: // a close the machine asked for completes
            guard !self.model.closing.isEmpty else { return }
            let id = self.model.closing.removeFirst()
            self.model.open[id] = nil
            self.apply(self.machine.connectionClosed(id, now: at))
        case 72..<75: // a connection dies under its callers
            let live = self.model.open.keys.filter { !self.model.closing.contains($0) }.sorted { $0.value < $1.value }
            guard !live.isEmpty else { return }
            let id = live[self.choices.next(live.count)]
            self.model.open[id] = nil
            self.apply(self.machine.connectionClosed(id, now: at))
        case 75..<80: // a waiter's task is cancelled
            let waiters = self.model.waiting.keys.sorted()
            guard !waiters.isEmpty else { return }
            let waiter = waiters[self.choices.next(waiters.count)]
            if let id = self.machine.waiters.select(limit: .max, where: { $0.waiter == waiter }).first {
                self.apply(self.machine.cancel(id))
            }
        case 80..<83:
            self.apply(self.machine.budgetFreed(now: at))
        case 83..<85:
            self.apply(self.machine.yieldIdleConnection())
        default: // time passes
            self.now += Int64(self.choices.next(40))
            self.apply(self.machine.tick(now: Self.at(self.now)))
            for (waiter, deadline) in self.model.waiting {
                self.expect(deadline > self.now, "step \(step): waiter \(waiter) still waits past its deadline")
            }
        }
    }

    private func check(step: Int) {
        let machine = self.machine
        let limits = self.limits
        self.expect(machine.slots.count <= limits.maxConnections, "step \(step): over the cap")
        self.expect(machine.connectingCount <= limits.maxConnecting, "step \(step): too many connects")
        self.expect(
            machine.slots.allSatisfy { $0.leases <= limits.maxLeasesPerConnection },
            "step \(step): a connection over its leases")
        // Every lease has its start, and nothing else does (use time pairs them).
        self.expect(
            machine.slots.allSatisfy { $0.leaseStarts.count == (limits.measuresUseTime ? $0.leases : 0) },
            "step \(step): lease starts disagree with leases")
        self.expect(
            Set(machine.slots.filter(\.isConnecting).map(\.id)) == self.model.connecting,
            "step \(step): connects disagree")
        let heldOnLiveSlots = self.model.held.filter { lease in machine.slots.contains { $0.id == lease.id } }.count
        self.expect(machine.activeLeases == heldOnLiveSlots, "step \(step): leases disagree")
        self.expect(machine.waiters.count == self.model.waiting.count, "step \(step): waiters disagree")
        self.expect(machine.waiters.count <= limits.maxWaiters, "step \(step): too many waiters")
        let open = machine.counters.created - machine.counters.closed
        self.expect(open == machine.slots.filter { !$0.isConnecting }.count, "step \(step): created - closed ≠ open")
        // A waiter waits only when nothing could serve it now, and only for something that
        // will come: a connection (busy, opening or closing to make room), or budget.
        if !machine.waiters.isEmpty {
            self.expect(machine.bestReadySlot() == nil, "step \(step): a waiter waits beside a free connection")
            self.expect(!machine.slots.isEmpty || machine.isStarved, "step \(step): waiters wait for nothing")
        }
    }

    /// Shut down, give every lease back, finish every connect and close.
    private mutating func windDown() {
        let at = Self.at(self.now)
        self.apply(self.machine.shutdown())
        self.expect(self.model.waiting.isEmpty, "shutdown leaves no waiter")
        for lease in self.model.held { self.apply(self.machine.release(lease.id, now: at) { _ in true }) }
        self.model.held.removeAll()
        for id in self.model.connecting { self.apply(self.machine.connectFailed(id, Failure(), now: at)) }
        self.model.connecting.removeAll()
        self.apply(self.machine.forceClose())
        while !self.model.closing.isEmpty {
            let id = self.model.closing.removeFirst()
            self.apply(self.machine.connectionClosed(id, now: at))
        }
        for id in self.model.open.keys where self.machine.index(of: id) != nil {
            self.apply(self.machine.connectionClosed(id, now: at))
        }
        self.expect(self.machine.isDrained, "slots left \(self.machine.slots.map(\.id))")
        self.expect(self.model.resolved.count == self.nextWaiter, "not every caller got an answer")
        let served = self.model.resolved.values.filter { $0 == "served" }.count
        self.expect(
            self.machine.counters.leases == served, "\(self.machine.counters.leases) leases counted, \(served) served")
    }
}
