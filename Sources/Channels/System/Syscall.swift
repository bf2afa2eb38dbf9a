import Glibc

/// Runs one system call and translates its result, the only place that reads `errno`.
///
/// - `EINTR` is retried: a signal is never a failure of the operation.
/// - `EAGAIN`/`EWOULDBLOCK` become `.wouldBlock` for non-blocking calls.
/// - `EBADF` and `EFAULT` trap: they mean we used a closed descriptor or a bad pointer, a bug
///   in this library that must not be papered over. No peer can cause them.
/// - Every other errno becomes an `IOError` naming the call.
@inline(__always)
func syscall<T: FixedWidthInteger>(
    _ call: StaticString,
    blocking: Bool = false,
    _ body: () -> T
) throws -> IOResult<T> {
    while true {
        let result = body()
        if result != -1 {
            return .processed(result)
        }
        let code = errno
        switch code {
        case EINTR:
            continue
        case EAGAIN where !blocking, EWOULDBLOCK where !blocking:
            return .wouldBlock
        case EBADF, EFAULT:
            // SAFETY: only our own bookkeeping can hand the kernel a closed fd or a bad
            // pointer; continuing would touch someone else's descriptor.
            fatalError("\(call) failed with errno \(code): descriptor or pointer misuse (library bug)")
        default:
            throw IOError(errnoCode: code, call: "\(call)")
        }
    }
}

/// A system call that cannot say "would block": returns its value or throws.
@inline(__always)
func syscallBlocking<T: FixedWidthInteger>(_ call: StaticString, _ body: () -> T) throws -> T {
    switch try syscall(call, blocking: true, body) {
    case .processed(let value): return value
    case .wouldBlock: return 0 // unreachable: blocking calls never report EAGAIN as such
    }
}
