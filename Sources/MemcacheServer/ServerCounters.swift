import Channels
import Foundation
import Synchronization

/// Server-wide counters that are not per shard: connections and commands per loop, and the
/// start time.
///
/// Thread-safe (relaxed atomics: each is written by one loop and read by `stats` or the
/// metrics endpoint, which need no ordering with anything else).
final class ServerCounters: Sendable {
    /// One loop's counters, on a cache line of their own in practice (a separate object per
    /// loop), so that two loops never write the same line.
    final class Loop: Sendable {
        private let current = Atomic<Int>(0)
        private let total = Atomic<Int>(0)
        private let commands = Atomic<Int>(0)

        func connectionOpened() {
            self.current.wrappingAdd(1, ordering: .relaxed)
            self.total.wrappingAdd(1, ordering: .relaxed)
        }

        func connectionClosed() { self.current.wrappingSubtract(1, ordering: .relaxed) }

        /// Requests answered; a handler adds a read burst's worth at once.
        func answered(_ count: Int) { self.commands.wrappingAdd(count, ordering: .relaxed) }

        var snapshot: MemcacheServerStatistics.Loop {
            MemcacheServerStatistics.Loop(
                currentConnections: self.current.load(ordering: .relaxed),
                totalConnections: self.total.load(ordering: .relaxed),
                commands: self.commands.load(ordering: .relaxed))
        }
    }

    let perLoop: [Loop]
    /// Connections a shutdown closed because they were still open at its deadline.
    let closedAtShutdownDeadline = Atomic<Int>(0)
    let startTime = Int(Date().timeIntervalSince1970)
    /// Authentication attempts (memcached's `auth_cmds`) and failed ones (`auth_errors`).
    let authenticationAttempts = Atomic<Int>(0)
    let authenticationFailures = Atomic<Int>(0)

    func authenticationSucceeded() { self.authenticationAttempts.wrappingAdd(1, ordering: .relaxed) }

    func authenticationFailed() {
        self.authenticationAttempts.wrappingAdd(1, ordering: .relaxed)
        self.authenticationFailures.wrappingAdd(1, ordering: .relaxed)
    }

    /// The `stats settings` lines known once the server listens (its address, TLS,
    /// authentication); those of the store are added when asked.
    let settings = LockedValue<[(name: String, value: String)]>([])
    /// The server's address as `stats conns` writes it (`tcp:HOST:PORT`, `unix:PATH`).
    let listenAddress = LockedValue("")
    /// Every open connection, for `stats conns`.
    let connections = LockedValue<[Int: ConnectionRecord]>([:])
    private let connectionNumbers = Atomic<Int>(0)

    /// Registers a new connection for `stats conns`.
    func connectionOpened(peer: SocketAddress?, now: Int) -> ConnectionRecord {
        let number = self.connectionNumbers.wrappingAdd(1, ordering: .relaxed).newValue
        let record = ConnectionRecord(number: number, peer: peer, now: now)
        self.connections.withLock { $0[number] = record }
        return record
    }

    func connectionClosed(_ record: ConnectionRecord) {
        _ = self.connections.withLock { $0.removeValue(forKey: record.number) }
    }

    init(loops: Int) {
        self.perLoop = (0..<max(loops, 1)).map { _ in Loop() }
    }

    var loops: Int { self.perLoop.count }

    /// The counters of the loop with `index` (a connection of a group bigger than the
    /// server's counts on the last loop's).
    func loop(_ index: Int) -> Loop { self.perLoop[min(max(index, 0), self.perLoop.count - 1)] }

    var currentConnections: Int { self.perLoop.reduce(0) { $0 + $1.snapshot.currentConnections } }
}
