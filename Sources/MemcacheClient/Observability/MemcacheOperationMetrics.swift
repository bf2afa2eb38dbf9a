import Channels
import Codecs
import CoreMetrics
import Metrics
import Pool

/// A memcache client's operations in swift-metrics: one timer, `db.client.operation.duration`
/// (OpenTelemetry's database-client name and attributes), by command and outcome — its count
/// is the number of operations, so counting them needs no second instrument (each metric
/// write costs the backend a lock; see the README for the cost per operation).
///
/// The command is the one on the wire (`mg`, `ms`, `md`, `ma`, `get`, `set`, `incr`, …: what
/// `MemcacheRequest.commandName` says); the outcome is `hit`, `miss`, `stored`,
/// `not_stored`, `exists`, `not_found`, `deleted`, `touched` or `ok`, or for a failed call
/// the error's kind: its `MemcacheError` code with underscores (`timeout`,
/// `connection_closed`, `server_error`, …) or `cancelled`.
///
/// Thread-safe. The timers are made on first use (so a backend shows only series that
/// occurred). A caller on one of the pool's loops finds them in that loop's table by two
/// small integers, with no lock and no hashing (a lookup by strings under a lock showed in
/// the benchmark); other callers, and failures, look them up by name under a lock.
final class MemcacheOperationMetrics: Sendable {
    static let outcomes = ["hit", "miss", "stored", "not_stored", "exists", "not_found", "deleted", "touched", "ok"]
    static let label = "db.client.operation.duration"

    private struct Key: Hashable {
        let command: String
        let outcome: String
    }

    /// One loop's timers by (command, outcome) index. Loop-confined.
    private final class LoopTable: @unchecked Sendable { // SAFETY: used only on its loop
        /// Read on every call; no access overlaps another (no callout while one is open),
        /// so without the runtime's exclusivity check.
        @exclusivity(unchecked) var timers = [Timer?](
            repeating: nil, count: MemcacheRequest.operationNames.count * MemcacheOperationMetrics.outcomes.count)
    }

    private let dimensions: [(String, String)]
    private let factory: any MetricsFactory
    private let shared = LockedValue<[Key: Timer]>([:])
    private let loopTables: [LoopTable]
    /// Which loop the caller runs on, asked without retaining the group (shared by every loop).
    private let loops: EventLoopGroup.Identity

    init(host: String, port: Int, group: EventLoopGroup, factory: any MetricsFactory) {
        self.factory = factory
        // A Unix-domain socket (port 0) has its path as the address and no port.
        self.dimensions =
            [("db.system.name", "memcached"), ("server.address", host)]
            + (port == 0 ? [] : [("server.port", String(port))])
        self.loopTables = group.loops.map { _ in LoopTable() }
        self.loops = group.identity
    }

    /// Times one call that got `response`: in the table of the caller's loop when it runs on
    /// one of the pool's loops (no lock), else under the lock.
    func record(_ request: MemcacheRequest, _ response: MemcacheResponse, duration: TimeAmount) {
        let command = request.operationIndex
        guard let loop = self.loops.currentIndex, let outcome = response.outcomeIndex(of: request) else {
            return self.record(
                command: MemcacheRequest.operationNames[command], outcome: response.outcome(of: request),
                duration: duration)
        }
        let slot = command * Self.outcomes.count + outcome
        // Read in place, not bound to locals: binding the table and the timer cost a retain
        // and a release each per get; writing the slot back cost another pair (uprobes under
        // `mcpool bench`).
        if self.loopTables[loop].timers[slot]?.recordNanoseconds(duration.nanoseconds) != nil { return }
        let table = self.loopTables[loop]
        // A timer object of the loop's own (the factory hands each the same handler): one
        // shared by every loop had its count bounce between cores on every call.
        let timer = self.makeTimer(MemcacheRequest.operationNames[command], Self.outcomes[outcome])
        table.timers[slot] = timer
        timer.recordNanoseconds(duration.nanoseconds)
    }

    /// Times one call by names (under the lock).
    func record(command: String, outcome: String, duration: TimeAmount) {
        self.timer(command, outcome).recordNanoseconds(duration.nanoseconds)
    }

    private func timer(_ command: String, _ outcome: String) -> Timer {
        let key = Key(command: command, outcome: outcome)
        return self.shared.withLock { made in
            if let timer = made[key] { return timer }
            let timer = self.makeTimer(command, outcome)
            made[key] = timer
            return timer
        }
    }

    private func makeTimer(_ command: String, _ outcome: String) -> Timer {
        Timer(
            label: Self.label, dimensions: self.dimensions + [("db.operation.name", command), ("outcome", outcome)],
            factory: self.factory)
    }
}

extension MemcacheResponse {
    /// The index of `outcome(of:)` in `MemcacheOperationMetrics.outcomes`; nil for an error.
    func outcomeIndex(of request: MemcacheRequest) -> Int? {
        switch self {
        case .values(let items): return items.isEmpty ? 1 : 0
        case .end: return 1
        case .stored: return 2
        case .notStored: return 3
        case .exists: return 4
        case .notFound: return 5
        case .deleted: return 6
        case .touched: return 7
        case .ok, .number, .version, .stats: return 8
        case .error: return nil
        case .meta(let meta):
            switch meta.status {
            case .value: return 0
            case .miss: return 1
            case .notFound: return 5
            case .notStored: return 3
            case .exists: return 4
            case .noop, .debug: return 8
            case .headerOnly:
                guard case .meta(let sent) = request else { return 8 }
                switch sent.command {
                case .set: return 2
                case .delete: return 6
                case .get: return 0
                default: return 8
                }
            }
        }
    }

    /// What the reply says happened, in a word (see `MemcacheOperationMetrics`).
    func outcome(of request: MemcacheRequest) -> String {
        if let index = self.outcomeIndex(of: request) { return MemcacheOperationMetrics.outcomes[index] }
        guard case .error(let error) = self else { return "ok" }
        return error.outcome
    }
}

extension MemcacheError {
    /// The code as a metric or attribute value: `connection_closed`, `timeout`, ….
    var outcome: String {
        String(self.code.description.map { $0 == " " ? "_" : $0 }).lowercased()
    }
}

/// The outcome of a call that threw.
func operationOutcome(of error: any Error) -> String {
    switch error {
    case let error as MemcacheError: return error.outcome
    case is CancellationError: return "cancelled"
    default: return "error"
    }
}
