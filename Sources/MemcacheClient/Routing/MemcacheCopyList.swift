import Codecs

/// The copies of one key, as a route walks them: by slot, in the order reads try them.
///
/// Generic code over it is specialised per shape, so a ring's copies cost no array and no
/// boxed sender per call (the hot path of every replicated get): `RingCopies` reads them
/// straight from the set's placement table, `[MemcacheCopy]` is the general shape.
protocol MemcacheCopyList: Sendable {
    var count: Int { get }
    func name(_ slot: Int) -> String
    /// False when the copy's server is ejected: reads skip it, writes count it failed.
    func isAvailable(_ slot: Int) -> Bool
    /// Runs `operation` on the copy's sender (with its server's failure accounting).
    func run<T: Sendable>(_ slot: Int, _ operation: (any MemcacheRequestSender) async throws -> T) async throws -> T
    /// The copy as a value (for the less travelled paths: write-backs, groups of keys).
    func copy(_ slot: Int) -> MemcacheCopy
}

/// One copy of a key for a route: the sender that reaches it, its name in logs and reports,
/// and whether it takes calls now (false: its server is ejected).
struct MemcacheCopy: Sendable {
    let name: String
    let sender: any MemcacheRequestSender
    let isAvailable: Bool
}

extension Array: MemcacheCopyList where Element == MemcacheCopy {
    func name(_ slot: Int) -> String { self[slot].name }
    func isAvailable(_ slot: Int) -> Bool { self[slot].isAvailable }
    func run<T: Sendable>(_ slot: Int, _ operation: (any MemcacheRequestSender) async throws -> T) async throws -> T {
        try await operation(self[slot].sender)
    }
    func copy(_ slot: Int) -> MemcacheCopy { self[slot] }
}
