import Foundation
import Glibc

/// Runs `body(i)` on `count` new OS threads at once and waits for all of them.
///
/// The joins happen on a thread of their own, never on the concurrency pool: joined from a
/// test's task, 8 threads queueing a million tasks under a sanitizer held one of the pool's
/// two threads for minutes, and every other test waited for the one left.
public func runOnThreads(count: Int, _ body: @escaping @Sendable (Int) -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        Thread {
            runOnThreadsBlocking(count: count, body)
            continuation.resume()
        }
        .start()
    }
}

private func runOnThreadsBlocking(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box { body(index) }).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { argument in
                Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
                return nil
            }, box)
        precondition(rc == 0, "pthread_create failed")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}
