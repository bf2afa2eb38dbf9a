public import Channels

/// A snapshot of a pool's counts, per loop and in total.
///
/// Thread-safe (a value).
///
/// ```swift
/// let statistics = await pool.statistics()
/// print(statistics.total.idle, statistics.total.waiting, statistics.total.averageWait)
/// ```
public struct PoolStatistics: Sendable, CustomStringConvertible {
    /// One loop's counts. `idle + leased` is the number of open connections.
    public struct Loop: Sendable, Equatable {
        public var idle = 0
        public var leased = 0
        public var connecting = 0
        public var waiting = 0
        /// Callers using a connection now (more than `leased` when connections are shared).
        public var activeLeases = 0
        public var created = 0
        public var closed = 0
        public var connectFailures = 0
        public var leases = 0
        /// Leases that had to wait, and how long in total / at most.
        public var waitedLeases = 0
        public var totalWait = TimeAmount.zero
        public var maxWait = TimeAmount.zero
        /// Closed connections by why they closed (they sum to `closed`).
        public var closedBy: [PoolCloseReason: Int] = [:]

        public var open: Int { self.idle + self.leased }
        public var averageWait: TimeAmount {
            self.waitedLeases == 0 ? .zero : .nanoseconds(self.totalWait.nanoseconds / Int64(self.waitedLeases))
        }

        /// The counters of two loops (or pools) summed; the maximum wait is the larger.
        public static func + (lhs: Loop, rhs: Loop) -> Loop {
            Loop(
                idle: lhs.idle + rhs.idle, leased: lhs.leased + rhs.leased, connecting: lhs.connecting + rhs.connecting,
                waiting: lhs.waiting + rhs.waiting, activeLeases: lhs.activeLeases + rhs.activeLeases,
                created: lhs.created + rhs.created, closed: lhs.closed + rhs.closed,
                connectFailures: lhs.connectFailures + rhs.connectFailures, leases: lhs.leases + rhs.leases,
                waitedLeases: lhs.waitedLeases + rhs.waitedLeases, totalWait: lhs.totalWait + rhs.totalWait,
                maxWait: max(lhs.maxWait, rhs.maxWait),
                closedBy: lhs.closedBy.merging(rhs.closedBy, uniquingKeysWith: +))
        }
    }

    public var loops: [Loop]
    public var total: Loop { self.loops.reduce(Loop(), +) }

    public var description: String {
        let total = self.total
        return "open \(total.open) (idle \(total.idle), leased \(total.leased)), connecting \(total.connecting), "
            + "waiting \(total.waiting), created \(total.created), closed \(total.closed), "
            + "connect failures \(total.connectFailures), leases \(total.leases), "
            + "waited \(total.waitedLeases) (average \(total.averageWait), max \(total.maxWait))"
    }
}

extension PoolStatistics.Loop {
    /// All zero: the start of a sum.
    public static let zero = PoolStatistics.Loop()
}
