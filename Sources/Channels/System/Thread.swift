import CLinux
import Glibc

/// A joinable OS thread, as the event loops need: one long-lived thread each.
///
/// Thread-safe: `join` may be called from any thread, once.
final class OSThread: @unchecked Sendable { // SAFETY: write-once handle, below
    // SAFETY: `handle` is written once in `init` before the object is shared, then only read.
    private var handle = pthread_t()

    private final class Start {
        let body: () -> Void
        init(body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a thread named `name` (at most 15 bytes are kept) that runs `body`.
    ///
    /// - Throws: `IOError` (`pthread_create`'s error: `EAGAIN` when the system or the process
    ///   has no thread left to give).
    init(name: String, body: @escaping @Sendable () -> Void) throws(IOError) {
        // SAFETY: one retain, given up exactly once: by the new thread, or below when none starts.
        let start = Unmanaged.passRetained(Start(body: body)).toOpaque()
        let rc = pthread_create(
            &self.handle, nil,
            { argument in
                guard let argument else { return nil }
                // SAFETY: the argument is the retained Start made just above, released here once.
                let start = Unmanaged<Start>.fromOpaque(argument).takeRetainedValue()
                start.body()
                return nil
            }, start)
        guard rc == 0 else {
            // SAFETY: no thread took the Start retained above: released here instead.
            Unmanaged<Start>.fromOpaque(start).release()
            throw IOError(errnoCode: rc, call: "pthread_create")
        }
        _ = CLinux_pthread_setname_np(self.handle, String(decoding: name.utf8.prefix(15), as: UTF8.self))
    }

    /// Runs `body` on a new thread that cleans up after itself (nobody joins it).
    static func detached(name: String, body: @escaping @Sendable () -> Void) throws(IOError) {
        let thread = try OSThread(name: name, body: body)
        _ = pthread_detach(thread.handle)
    }

    /// Waits until the thread has finished.
    func join() {
        _ = pthread_join(self.handle, nil)
    }

    /// An identifier of the calling thread, comparable with `==`.
    static var currentID: UInt {
        UInt(pthread_self())
    }
}

/// One pointer per thread: the event loop running on it (nil on every other thread), so
/// "which loop am I on?" is one `pthread_getspecific`, not a scan of a group's loops.
///
/// Thread-safe: each thread reads and writes only its own slot.
enum CurrentLoopSlot {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key, nil)
        precondition(rc == 0, "pthread_key_create failed: \(rc)") // SAFETY: only EAGAIN/ENOMEM at start-up
        return key
    }()

    /// Sets the calling thread's slot (a loop's unretained pointer, or nil).
    static func set(_ pointer: UnsafeMutableRawPointer?) {
        _ = pthread_setspecific(self.key, pointer)
    }

    /// The calling thread's slot.
    static func get() -> UnsafeMutableRawPointer? {
        pthread_getspecific(self.key)
    }
}
