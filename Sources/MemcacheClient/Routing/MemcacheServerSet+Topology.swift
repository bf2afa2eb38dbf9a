import Channels
import Codecs
import Pool
import Synchronization

extension MemcacheServerSet {
    /// One server's pool, kept across updates while the server stays in the set.
    final class Member: Sendable {
        let address: String
        let pool: MemcachePool
        /// Removed by an update: its pool drains and takes no new calls.
        let isRetired = Atomic<Bool>(false)
        /// Whether it failed since its last success, so a success must clear the streak (read
        /// relaxed on every success; the streak itself lives under the set's lock).
        let hasFailureStreak = Atomic<Bool>(false)

        init(address: String, pool: MemcachePool) {
            self.address = address
            self.pool = pool
        }
    }

    /// The servers, their pools and health, and the rings built from them: the set's state,
    /// under its lock.
    struct Topology {
        private(set) var servers: [Server]
        private(set) var members: [Member]
        var health: [ServerHealth]
        private(set) var ring: KetamaRing
        /// Servers not active (ejected or probing).
        private(set) var leftOut = 0
        private var nextProbe = Deadline.distantFuture
        /// The ring of the active servers and their indices, built when first needed.
        private var live: (ring: KetamaRing, indices: [Int])?
        /// The copies' servers of every point of `ring` (see `KetamaRing.replicaTable`), for
        /// the number of copies asked last; built when first needed.
        private var replicaTable: (count: Int, table: [Int], width: Int)?
        var isShutDown = false

        init(servers: [Server], members: [Member]) {
            self.servers = servers
            self.members = members
            self.health = servers.map { _ in ServerHealth() }
            self.ring = KetamaRing(weightedServers: servers.map { ($0.host, $0.port, $0.weight) })
        }

        mutating func replace(servers: [Server], members: [Member], health: [ServerHealth]) {
            self.servers = servers
            self.members = members
            self.health = health
            self.ring = KetamaRing(weightedServers: servers.map { ($0.host, $0.port, $0.weight) })
            self.replicaTable = nil
            self.healthChanged()
        }

        func index(of member: Member) -> Int? {
            self.members.firstIndex { $0 === member }
        }

        /// After an ejection or a return: the live ring is rebuilt when next needed.
        mutating func healthChanged() {
            self.live = nil
            self.leftOut = self.health.filter { !$0.isActive }.count
            self.nextProbe =
                self.health.compactMap { health -> Deadline? in
                    if case .ejected(let until) = health.state { return until }
                    return nil
                }.min() ?? .distantFuture
        }

        /// The ring of the active servers (nil when none is active).
        mutating func liveRing() -> (ring: KetamaRing, indices: [Int])? {
            if let live = self.live { return live }
            let indices = self.servers.indices.filter { self.health[$0].isActive }
            guard !indices.isEmpty else { return nil }
            let live = (
                KetamaRing(
                    weightedServers: indices.map {
                        (self.servers[$0].host, self.servers[$0].port, self.servers[$0].weight)
                    }), indices
            )
            self.live = live
            return live
        }

        /// Where a key's hash goes now: its ketama server while that one is active; otherwise,
        /// by `policy`, a typed failure (`.failFast`) or the ring of the active servers
        /// (`.rehash`). Also returns the members whose probe fell due, now marked probing (the
        /// caller starts them). `now` is read only when some server is left out.
        mutating func route(
            hash: UInt32, policy: FailurePolicy, now: @autoclosure () -> Deadline
        ) -> (Result<Member, MemcacheError>, [Member]) {
            guard !self.isShutDown else {
                return (.failure(MemcacheError(.shutdown, "the server set is shut down")), [])
            }
            guard !self.members.isEmpty else {
                return (.failure(MemcacheError(.connectFailed, "the server set has no servers")), [])
            }
            let primary = self.ring.serverIndex(forHash: hash)
            guard self.leftOut > 0 else { return (.success(self.members[primary]), []) }
            let probes = self.startDueProbes(now: now())
            if self.health[primary].isActive { return (.success(self.members[primary]), probes) }
            switch policy {
            case .failFast:
                let down = self.members[primary].address
                let error = MemcacheError(
                    .connectFailed, "\(down) is ejected after failing; its keys fail until a probe succeeds")
                return (.failure(error), probes)
            case .rehash:
                guard let live = self.liveRing() else {
                    return (.failure(MemcacheError(.connectFailed, "every server is ejected")), probes)
                }
                return (.success(self.members[live.indices[live.ring.serverIndex(forHash: hash)]]), probes)
            }
        }

        /// Where the copies of a key whose hash is `hash` live: the servers' indices into
        /// `members` are `table[base ..< base + width]` (-1: none), the key's own first; `active`
        /// says which servers are active (nil: all). Also returns the members whose probe fell
        /// due, as `route` does. Cheap under the lock: a search and no allocation while every
        /// server is active.
        mutating func replicas(
            hash: UInt32, count: Int, now: @autoclosure () -> Deadline
        ) -> (Result<ReplicaPlacement, MemcacheError>, [Member]) {
            guard !self.isShutDown else {
                return (.failure(MemcacheError(.shutdown, "the server set is shut down")), [])
            }
            guard !self.members.isEmpty else {
                return (.failure(MemcacheError(.connectFailed, "the server set has no servers")), [])
            }
            if self.replicaTable?.count != count {
                let (table, width) = self.ring.replicaTable(count: count)
                self.replicaTable = (count, table, width)
            }
            let (_, table, width) = self.replicaTable!
            var placement = ReplicaPlacement(
                members: self.members, table: table, base: self.ring.pointIndex(forHash: hash) * width, width: width,
                active: nil)
            guard self.leftOut > 0 else { return (.success(placement), []) }
            let probes = self.startDueProbes(now: now())
            placement.active = self.health.map(\.isActive)
            return (.success(placement), probes)
        }

        /// The members whose probe is due, now marked probing.
        mutating func startDueProbes(now: Deadline) -> [Member] {
            guard now >= self.nextProbe else { return [] }
            var due: [Member] = []
            for index in self.health.indices where self.health[index].startProbeIfDue(now: now) {
                due.append(self.members[index])
            }
            self.healthChanged()
            return due
        }
    }

    /// Where a key's copies live (see `Topology.replicas`), read outside the lock.
    struct ReplicaPlacement: Sendable {
        let members: [Member]
        let table: [Int]
        let base: Int
        let width: Int
        var active: [Bool]?
    }
}
