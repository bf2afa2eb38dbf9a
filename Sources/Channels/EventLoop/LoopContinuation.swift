// Suspending until a loop calls back.
//
// Debug builds use checked continuations: a double resume traps with a message, and
// ThreadSanitizer sees the hand-off from the loop thread to the resumed task (it does not see
// it through an unsafe continuation, and reports false races on the task's frame). Release
// builds use unsafe continuations, which allocate nothing.

#if DEBUG
/// The continuation a loop resumes: checked in debug builds, unsafe in release builds.
public typealias LoopContinuation<Value> = CheckedContinuation<Value, any Error>

/// Suspends until `body`'s continuation is resumed, from any thread.
public func withLoopContinuation<Value>(_ body: (LoopContinuation<Value>) -> Void) async throws -> Value {
    try await withCheckedThrowingContinuation(body)
}
#else
/// The continuation a loop resumes: checked in debug builds, unsafe in release builds.
public typealias LoopContinuation<Value> = UnsafeContinuation<Value, any Error>

/// Suspends until `body`'s continuation is resumed, from any thread.
public func withLoopContinuation<Value>(_ body: (LoopContinuation<Value>) -> Void) async throws -> Value {
    try await withUnsafeThrowingContinuation(body)
}
#endif
