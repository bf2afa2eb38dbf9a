/// The outcome of a non-blocking call: it did its work, or the kernel said "not now".
///
/// "Not ready" is a value, not an error: callers register for readiness and try again.
enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}
