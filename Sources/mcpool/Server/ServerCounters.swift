import Foundation
import Synchronization

/// Server-wide counters that are not per shard: connections and the start time.
///
/// Thread-safe (atomics, with the orderings ThreadSanitizer sees).
final class ServerCounters: Sendable {
    private let current = Atomic<Int>(0)
    private let total = Atomic<Int>(0)
    let startTime = Int(Date().timeIntervalSince1970)
    let loops: Int

    init(loops: Int) {
        self.loops = loops
    }

    func connectionOpened() {
        self.current.wrappingAdd(1, ordering: .relaxed)
        self.total.wrappingAdd(1, ordering: .relaxed)
    }

    func connectionClosed() {
        self.current.wrappingSubtract(1, ordering: .relaxed)
    }

    var currentConnections: Int { self.current.load(ordering: .relaxed) }
    var totalConnections: Int { self.total.load(ordering: .relaxed) }
}
