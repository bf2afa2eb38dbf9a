public import Channels
import Pool

extension MemcacheServerSet {
    /// What `statistics()` reports.
    public struct Statistics: Sendable, CustomStringConvertible {
        public struct Server: Sendable {
            public var server: MemcacheServerSet.Server
            public var state: MemcacheServerState
            /// Failures since its last success.
            public var failureStreak: Int
            /// How often it was ejected (a failed probe counts again).
            public var ejections: Int
            /// How long its latest ejection left it out.
            public var retryAfter: TimeAmount?
            public var pool: PoolStatistics
        }

        /// In the order of the set's servers.
        public var servers: [Server]

        /// Every server's pool counters, summed.
        public var total: PoolStatistics.Loop { self.servers.map(\.pool.total).reduce(.zero, +) }
        /// The servers taking their keys now.
        public var activeServers: Int { self.servers.filter { $0.state == .active }.count }

        public var description: String {
            let lines = self.servers.map { entry in
                "\(entry.server): \(entry.state), \(entry.ejections) ejections, \(entry.pool.total.leases) leases, \(entry.pool.total.open) open"
            }
            return "\(self.activeServers) of \(self.servers.count) servers active\n" + lines.joined(separator: "\n")
        }
    }
}
