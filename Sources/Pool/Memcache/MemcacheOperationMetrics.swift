import Channels
import Codecs
import CoreMetrics
import Metrics

/// A memcache client's operations in swift-metrics: `memcache.client.operations` counts them
/// by command and outcome, `db.client.operation.duration` times them by command
/// (OpenTelemetry's database-client name and attributes).
///
/// Thread-safe: the instruments for each command and outcome are made on first use and kept
/// under a lock (one short lookup per operation).
///
/// The command is the one on the wire (`mg`, `ms`, `md`, `ma`, `get`, `set`, `incr`, …: what
/// `MemcacheRequest.operationName` says); the outcome is `hit`, `miss`, `stored`,
/// `not_stored`, `exists`, `not_found`, `deleted`, `touched` or `ok`, or for a failed call
/// the error's kind: its `MemcacheError` code with underscores (`timeout`,
/// `connection_closed`, `server_error`, …) or `cancelled`.
final class MemcacheOperationMetrics: Sendable {
    private struct Key: Hashable {
        let command: String
        let outcome: String
    }

    /// Made on first use: counters by command and outcome, timers by command.
    private struct Instruments {
        var counters: [Key: Counter] = [:]
        var timers: [String: Timer] = [:]
    }

    private let dimensions: [(String, String)]
    private let factory: any MetricsFactory
    private let instruments = LockedValue(Instruments())

    init(host: String, port: Int, factory: any MetricsFactory) {
        self.factory = factory
        self.dimensions = [("db.system.name", "memcached"), ("server.address", host), ("server.port", String(port))]
    }

    func record(command: String, outcome: String, duration: TimeAmount) {
        let key = Key(command: command, outcome: outcome)
        let (counter, timer) = self.instruments.withLock { made in
            let counter =
                made.counters[key]
                ?? {
                    let counter = Counter(
                        label: "memcache.client.operations",
                        dimensions: self.dimensions + [("db.operation.name", command), ("outcome", outcome)], factory: self.factory)
                    made.counters[key] = counter
                    return counter
                }()
            let timer =
                made.timers[command]
                ?? {
                    let timer = Timer(
                        label: "db.client.operation.duration", dimensions: self.dimensions + [("db.operation.name", command)],
                        factory: self.factory)
                    made.timers[command] = timer
                    return timer
                }()
            return (counter, timer)
        }
        counter.increment()
        timer.recordNanoseconds(duration.nanoseconds)
    }
}

extension MemcacheRequest {
    /// The command as written on the wire (`mg`, `get`, `set`, `incr`, …); a quiet meta
    /// batch is `batch`.
    var operationName: String {
        switch self {
        case .get(_, let withCAS): return withCAS ? "gets" : "get"
        case .getAndTouch(_, _, let withCAS): return withCAS ? "gats" : "gat"
        case .store(let store):
            switch store.mode {
            case .set: return "set"
            case .add: return "add"
            case .replace: return "replace"
            case .append: return "append"
            case .prepend: return "prepend"
            case .cas: return "cas"
            }
        case .delete: return "delete"
        case .arithmetic(_, _, let increment, _): return increment ? "incr" : "decr"
        case .touch: return "touch"
        case .flushAll: return "flush_all"
        case .version: return "version"
        case .verbosity: return "verbosity"
        case .stats: return "stats"
        case .meta(let meta): return meta.command.rawValue
        case .metaBatch: return "batch"
        case .quit: return "quit"
        }
    }
}

extension MemcacheResponse {
    /// What the reply says happened, in a word (see `MemcacheOperationMetrics`).
    func outcome(of request: MemcacheRequest) -> String {
        switch self {
        case .values(let items): return items.isEmpty ? "miss" : "hit"
        case .end: return "miss"
        case .stored: return "stored"
        case .notStored: return "not_stored"
        case .exists: return "exists"
        case .notFound: return "not_found"
        case .deleted: return "deleted"
        case .touched: return "touched"
        case .ok, .number, .version, .stats: return "ok"
        case .error(let error): return error.outcome
        case .meta(let meta):
            switch meta.status {
            case .value: return "hit"
            case .miss: return "miss"
            case .notFound: return "not_found"
            case .notStored: return "not_stored"
            case .exists: return "exists"
            case .noop, .debug: return "ok"
            case .headerOnly:
                guard case .meta(let sent) = request else { return "ok" }
                switch sent.command {
                case .set: return "stored"
                case .delete: return "deleted"
                case .get: return "hit"
                default: return "ok"
                }
            }
        }
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
