extension MemcacheRequest {
    /// Every command name, indexed by `operationIndex`.
    package static let operationNames = [
        "get", "gets", "gat", "gats", "set", "add", "replace", "append", "prepend", "cas", "delete", "incr", "decr",
        "touch",
        "flush_all", "version", "verbosity", "stats", "mg", "ms", "md", "ma", "mn", "me", "batch", "quit",
    ]

    /// The command as written on the wire (`mg`, `get`, `set`, `incr`, …); a quiet meta
    /// batch is `batch`. Metrics, traces and errors name a call by it.
    public var commandName: String { Self.operationNames[self.operationIndex] }

    /// The index of `commandName` in `operationNames`.
    package var operationIndex: Int {
        switch self {
        case .get(_, let withCAS): return withCAS ? 1 : 0
        case .getAndTouch(_, _, let withCAS): return withCAS ? 3 : 2
        case .store(let store):
            switch store.mode {
            case .set: return 4
            case .add: return 5
            case .replace: return 6
            case .append: return 7
            case .prepend: return 8
            case .cas: return 9
            }
        case .delete: return 10
        case .arithmetic(_, _, let increment, _): return increment ? 11 : 12
        case .touch: return 13
        case .flushAll: return 14
        case .version: return 15
        case .verbosity: return 16
        case .stats: return 17
        case .meta(let meta):
            switch meta.command {
            case .get: return 18
            case .set: return 19
            case .delete: return 20
            case .arithmetic: return 21
            case .noop: return 22
            case .debug: return 23
            }
        case .metaBatch: return 24
        case .quit: return 25
        }
    }
}
