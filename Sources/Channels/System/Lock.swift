import Glibc

/// A mutual-exclusion lock over a heap-allocated `pthread_mutex_t`.
///
/// Thread-safe. We do not use `Synchronization.Mutex` because its futex lock is invisible to
/// ThreadSanitizer on Linux and yields false race reports; a pthread mutex is seen correctly.
/// The mutex lives on the heap so that its address never moves (a pthread requirement).
public final class Lock: @unchecked Sendable { // SAFETY: only pthread calls touch the mutex
    // SAFETY: the pointer is allocated in init, freed in deinit, and only ever used through
    // pthread_mutex_* calls, which are themselves thread-safe.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        self.mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        let rc = pthread_mutex_init(self.mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)") // SAFETY: only ENOMEM, not recoverable
    }

    deinit {
        pthread_mutex_destroy(self.mutex)
        self.mutex.deallocate()
    }

    public func lock() {
        let rc = pthread_mutex_lock(self.mutex)
        precondition(rc == 0, "pthread_mutex_lock failed: \(rc)") // SAFETY: only EDEADLK, our bug
    }

    public func unlock() {
        let rc = pthread_mutex_unlock(self.mutex)
        precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)") // SAFETY: only EPERM, our bug
    }

    /// Runs `body` while holding the lock.
    @inline(__always)
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        self.lock()
        defer { self.unlock() }
        return try body()
    }
}

/// A value guarded by a `Lock`. Thread-safe.
public final class LockedValue<Value>: @unchecked Sendable { // SAFETY: value only under the lock
    // SAFETY: `value` is only read or written inside `lock.withLock`.
    private let lock = Lock()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    public func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        try self.lock.withLock { () throws(E) -> T in try body(&self.value) }
    }
}
