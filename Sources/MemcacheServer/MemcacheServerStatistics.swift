import Foundation
import Synchronization

/// A snapshot of an `InProcessMemcacheServer`'s counters: what memcached's `stats` reports,
/// plus each loop's connections and commands.
///
/// ```swift
/// let statistics = server.statistics
/// print(statistics.getHits, statistics.currentItems, statistics.loops.map(\.commands))
/// ```
public struct MemcacheServerStatistics: Sendable, Equatable {
    /// One event loop's share of the connections and of the work.
    public struct Loop: Sendable, Equatable {
        public var currentConnections: Int
        public var totalConnections: Int
        /// Requests answered on this loop (a multi-key get, or a batch of meta requests
        /// sent as one, counts once).
        public var commands: Int
    }

    /// Seconds since the server started.
    public var uptime: Int
    /// The server's clock, in Unix seconds.
    public var time: Int
    public var currentConnections: Int
    public var totalConnections: Int
    public var getHits: Int
    public var getMisses: Int
    public var sets: Int
    public var touches: Int
    /// Items stored now.
    public var currentItems: Int
    /// Items stored since the start.
    public var totalItems: Int
    /// Bytes charged for the items stored now.
    public var bytes: Int
    /// Items evicted to stay within the memory limit.
    public var evictions: Int
    public var memoryLimit: Int
    public var loops: [Loop]
    /// Connections a shutdown closed because their peers had not hung up by its deadline.
    public var closedAtShutdownDeadline: Int
    /// Authentication exchanges (`auth_cmds`), and those that failed (`auth_errors`).
    public var authenticationAttempts: Int
    public var authenticationFailures: Int

    /// Requests answered, all loops together.
    public var commands: Int { self.loops.reduce(0) { $0 + $1.commands } }

    init(store: ItemStore, counters: ServerCounters) {
        let (items, bytes, shards) = store.snapshot()
        let now = store.clock()
        self.uptime = now - counters.startTime
        self.time = now
        self.loops = counters.perLoop.map(\.snapshot)
        self.closedAtShutdownDeadline = counters.closedAtShutdownDeadline.load(ordering: .relaxed)
        self.authenticationAttempts = counters.authenticationAttempts.load(ordering: .relaxed)
        self.authenticationFailures = counters.authenticationFailures.load(ordering: .relaxed)
        self.currentConnections = self.loops.reduce(0) { $0 + $1.currentConnections }
        self.totalConnections = self.loops.reduce(0) { $0 + $1.totalConnections }
        self.getHits = shards.getHits
        self.getMisses = shards.getMisses
        self.sets = shards.sets
        self.touches = shards.touches
        self.currentItems = items
        self.totalItems = shards.totalItems
        self.bytes = bytes
        self.evictions = shards.evictions
        self.memoryLimit = store.memoryLimit
    }

    /// The general `stats` lines, in memcached's names and order.
    var statsLines: [(name: String, value: String)] {
        [
            ("pid", "\(ProcessInfo.processInfo.processIdentifier)"),
            ("uptime", "\(self.uptime)"),
            ("time", "\(self.time)"),
            ("version", CommandProcessor.version),
            ("pointer_size", "\(MemoryLayout<Int>.size * 8)"),
            ("curr_connections", "\(self.currentConnections)"),
            ("total_connections", "\(self.totalConnections)"),
            ("cmd_get", "\(self.getHits + self.getMisses)"),
            ("cmd_set", "\(self.sets)"),
            ("cmd_touch", "\(self.touches)"),
            ("get_hits", "\(self.getHits)"),
            ("get_misses", "\(self.getMisses)"),
            ("auth_cmds", "\(self.authenticationAttempts)"),
            ("auth_errors", "\(self.authenticationFailures)"),
            ("threads", "\(self.loops.count)"),
            ("bytes", "\(self.bytes)"),
            ("curr_items", "\(self.currentItems)"),
            ("total_items", "\(self.totalItems)"),
            ("evictions", "\(self.evictions)"),
            ("limit_maxbytes", "\(self.memoryLimit)"),
        ]
    }
}
