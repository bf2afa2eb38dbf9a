import Synchronization

/// Ends a bench run early (Ctrl-C): callers and the key preload look at it before each
/// request, so the run stops within one request's time and its summary covers what ran.
///
/// Thread-safe: one atomic flag.
final class BenchStop: Sendable {
    private let flag = Atomic<Bool>(false)

    /// Asks every caller to finish after its current request.
    func request() { self.flag.store(true, ordering: .relaxed) }

    var isRequested: Bool { self.flag.load(ordering: .relaxed) }
}
