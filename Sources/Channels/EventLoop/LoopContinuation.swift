// Suspending until a loop calls back.
//
// Release builds use a bare unsafe continuation: nothing is allocated. Debug builds use a
// checked continuation (a double resume traps with a message) and pass the hand-off through
// a pthread mutex: the resumer unlocks it after its last write, the resumed task locks it
// before its first read. The runtime's own hand-off is invisible to ThreadSanitizer here,
// which then reports false races on everything the loop built for the task.

/// The continuation a loop resumes (from any thread, exactly once).
public struct LoopContinuation<Value>: Sendable {
    #if DEBUG
        @usableFromInline let base: CheckedContinuation<Value, any Error>
        @usableFromInline let handoff: Lock

        @usableFromInline init(_ base: CheckedContinuation<Value, any Error>, handoff: Lock) {
            self.base = base
            self.handoff = handoff
        }
    #else
        @usableFromInline let base: UnsafeContinuation<Value, any Error>

        @usableFromInline init(_ base: UnsafeContinuation<Value, any Error>) {
            self.base = base
        }
    #endif

    /// Where the waiting task's memory begins, for a prefetch hint and nothing else: in release
    /// builds an unsafe continuation is the address of its task (the runtime's
    /// `swift_continuation_init` returns the task); nil in debug builds. Never dereference it.
    package var taskAddressForPrefetch: UnsafeRawPointer? {
        #if DEBUG
            return nil
        #else
            // SAFETY: an `UnsafeContinuation` is one pointer (the runtime's raw continuation,
            // which is its task); its bits become an address to prefetch, never a reference.
            return unsafeBitCast(self.base, to: UnsafeRawPointer.self)
        #endif
    }

    @inlinable
    public func resume(with result: sending Result<Value, any Error>) {
        #if DEBUG
            self.handoff.withLock {}
        #endif
        self.base.resume(with: result)
    }

    // Not through `resume(with:)`: in code left unspecialized (a generic type's method called
    // from another module) the `Result` would cost a lookup of its type metadata.
    @inlinable
    public func resume(returning value: sending Value) {
        #if DEBUG
            self.handoff.withLock {}
        #endif
        self.base.resume(returning: value)
    }

    @inlinable
    public func resume(throwing error: any Error) {
        #if DEBUG
            self.handoff.withLock {}
        #endif
        self.base.resume(throwing: error)
    }
}

/// Suspends until `body`'s continuation is resumed, from any thread.
@inlinable
public func withLoopContinuation<Value>(_ body: (LoopContinuation<Value>) -> Void) async throws -> Value {
    #if DEBUG
        let handoff = Lock()
        let value = try await _unsafeInheritExecutor_withCheckedThrowingContinuation {
            body(LoopContinuation($0, handoff: handoff))
        }
        handoff.withLock {}
        return value
    #else
        try await _unsafeInheritExecutor_withUnsafeThrowingContinuation { body(LoopContinuation($0)) }
    #endif
}
