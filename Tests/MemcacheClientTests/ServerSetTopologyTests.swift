import Channels
import Codecs
import Testing

@testable import MemcacheClient

/// The server set's routing decision as a value: `Topology.route` with the time passed in,
/// no sockets (the pools are made, never used) and no waiting.
@Suite("MemcacheServerSet's routing decision")
struct ServerSetTopologyTests {
    /// Three servers' topology, with the pools it names (never connected).
    struct Fixture {
        let group: EventLoopGroup
        var topology: MemcacheServerSet.Topology
        let members: [MemcacheServerSet.Member]

        init() throws {
            self.group = try EventLoopGroup(loopCount: 1)
            let servers = (1...3).map { MemcacheServerSet.Server(host: "10.0.0.\($0)") }
            self.members = servers.map { [group] server in
                MemcacheServerSet.Member(
                    address: server.description,
                    pool: MemcachePool(host: server.host, port: server.port, maxConnections: 1, group: group))
            }
            self.topology = MemcacheServerSet.Topology(servers: servers, members: self.members)
        }

        /// `index` failed enough times in a row at `now` to be ejected.
        mutating func eject(_ index: Int, at now: Deadline) {
            for _ in 0..<MemcacheEjectionPolicy().failureLimit {
                _ = self.topology.health[index].failed(now: now, policy: MemcacheEjectionPolicy())
            }
            self.topology.healthChanged()
        }

        /// A key hash whose ketama server is `index`.
        func hash(placedOn index: Int) -> UInt32 {
            var hash: UInt32 = 0
            while self.topology.ring.serverIndex(forHash: hash) != index { hash &+= 7919 }
            return hash
        }

        func stop() async throws {
            for member in self.members { await member.pool.shutdown() }
            try await self.group.shutdownGracefully()
        }
    }

    @Test("all servers active: a key goes to its ketama server, and the clock is not read")
    func allActive() async throws {
        var fixture = try Fixture()
        var clockReads = 0
        func now() -> Deadline {
            clockReads += 1
            return Deadline(uptimeNanoseconds: 1_000)
        }
        for index in 0..<3 {
            let (routed, probes) = fixture.topology.route(
                hash: fixture.hash(placedOn: index), policy: .failFast, now: now())
            #expect(try routed.get() === fixture.members[index])
            #expect(probes.isEmpty)
        }
        #expect(clockReads == 0)
        try await fixture.stop()
    }

    @Test("failFast: an ejected server's keys fail with connectFailed until its hold ends, then it is probed once")
    func failFast() async throws {
        var fixture = try Fixture()
        let start = Deadline(uptimeNanoseconds: 1_000_000_000)
        fixture.eject(1, at: start)
        let hash = fixture.hash(placedOn: 1)

        let (early, earlyProbes) = fixture.topology.route(hash: hash, policy: .failFast, now: start + .seconds(1))
        #expect(throws: MemcacheError.self) { try early.get() }
        if case .failure(let error) = early { #expect(error.code == .connectFailed) }
        #expect(earlyProbes.isEmpty)
        #expect(
            try fixture.topology.route(hash: fixture.hash(placedOn: 0), policy: .failFast, now: start).0.get()
                === fixture.members[0])

        let hold = MemcacheEjectionPolicy().retryAfter
        let (_, due) = fixture.topology.route(hash: hash, policy: .failFast, now: start + hold)
        #expect(due.count == 1 && due.first === fixture.members[1])
        #expect(fixture.topology.health[1].state == .probing)
        let (_, again) = fixture.topology.route(hash: hash, policy: .failFast, now: start + hold + .seconds(1))
        #expect(again.isEmpty, "a server being probed is not probed twice")
        try await fixture.stop()
    }

    @Test("rehash: an ejected server's keys go to the ring of the active servers; with none active, a typed error")
    func rehash() async throws {
        var fixture = try Fixture()
        let start = Deadline(uptimeNanoseconds: 1_000_000_000)
        fixture.eject(2, at: start)
        for step in 0..<200 {
            let hash = UInt32(step) &* 2_654_435_761
            let routed = try fixture.topology.route(hash: hash, policy: .rehash, now: start).0.get()
            #expect(routed !== fixture.members[2])
            if fixture.topology.ring.serverIndex(forHash: hash) != 2 {
                #expect(routed === fixture.members[fixture.topology.ring.serverIndex(forHash: hash)])
            }
        }
        fixture.eject(0, at: start)
        fixture.eject(1, at: start)
        let (none, _) = fixture.topology.route(hash: 42, policy: .rehash, now: start)
        if case .failure(let error) = none {
            #expect(error.code == .connectFailed)
        } else {
            Issue.record("a key was routed with every server ejected")
        }
        try await fixture.stop()
    }

    @Test("shut down, or no servers: typed errors before any placement")
    func shutDownAndEmpty() async throws {
        var fixture = try Fixture()
        fixture.topology.isShutDown = true
        if case .failure(let error) = fixture.topology.route(hash: 1, policy: .rehash, now: .distantFuture).0 {
            #expect(error.code == .shutdown)
        } else {
            Issue.record("a shut-down set routed a key")
        }
        var empty = MemcacheServerSet.Topology(servers: [], members: [])
        if case .failure(let error) = empty.route(hash: 1, policy: .rehash, now: .distantFuture).0 {
            #expect(error.code == .connectFailed)
        } else {
            Issue.record("an empty set routed a key")
        }
        try await fixture.stop()
    }
}
