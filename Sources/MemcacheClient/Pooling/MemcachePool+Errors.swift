import Channels
import Codecs
import Logging
import Pool

/// How the pool's failures reach a memcache caller: as `MemcacheError`s (or the caller's own
/// deadline or cancellation), and which of them allow a retryable request to be sent again.
extension MemcachePool {
    /// The connection closed before any byte of the reply arrived (or the request was even
    /// written): the one failure after which a retryable request is sent again.
    static func closedBeforeReply(_ error: any Error) -> Bool {
        (error as? MemcacheError)?.closedBeforeReply ?? false
    }

    /// Says (at debug level) that a request goes again on another connection.
    func logRetry(_ commandName: String, after error: any Error) {
        self.logger.debug(
            "retrying on another connection: the connection closed before any byte of the reply",
            metadata: ["command": "\(commandName)", "error": "\(error)"])
    }

    /// A pool failure as the `MemcacheError` a memcache caller gets (`CancellationError`
    /// stays itself; a `MemcacheError` is passed through).
    static func memcacheError(_ error: any Error) -> any Error {
        guard let error = error as? PoolError else { return error }
        switch error.code {
        case .cancelled: return CancellationError()
        case .shutdown: return MemcacheError(.shutdown, "the pool is shut down", cause: error)
        case .connectFailed where error.cause is TLSError:
            return MemcacheError(.tlsFailure, "the TLS handshake failed", cause: error)
        case .connectFailed: return MemcacheError(.connectFailed, "the server cannot be reached", cause: error)
        case .setupRefused:
            return error.cause as? MemcacheError ?? MemcacheError(.connectFailed, error.message, cause: error)
        default: return MemcacheError(.poolExhausted, "no connection could be leased", cause: error)
        }
    }

    /// What a caller whose lease failed gets: the pool's failure as a `MemcacheError`, or,
    /// when the lease waited until the caller's own deadline, that deadline's error.
    static func leaseFailure(_ error: any Error, leaseTimeoutIsCallers: Bool) -> any Error {
        if leaseTimeoutIsCallers, let error = error as? PoolError, error.code == .leaseTimeout {
            return MemcacheDeadline.passed("while it waited for a connection")
        }
        return Self.memcacheError(error)
    }
}
