import Channels

/// Decides, for one endpoint and all loops together, whether a connect may start.
///
/// Thread-safe when reached through `SharedConnectBreaker`; the struct itself is pure, with
/// time passed in. States and transitions:
/// - `healthy` → `open` on a connect failure (backoff for 1 failure).
/// - `open(until)` → `probing` when a connect is asked for after `until`: that one caller probes.
/// - `probing` → `healthy` when the probe connects; → `open` (longer backoff) when it fails.
/// While `open` or `probing`, every other connect is refused with the last error, so requests
/// fail fast instead of waiting out their lease timeout, and only one socket knocks on a dead
/// server at a time (not one per slot per loop).
struct ConnectBreaker {
    enum State {
        case healthy
        case open(until: Deadline, failures: Int, lastError: any Error)
        case probing(failures: Int, lastError: any Error)
    }

    enum Decision {
        /// Connect now.
        case proceed
        /// Do not connect; fail waiters that have nothing else to wait for with this error.
        case refuse(lastError: any Error)
    }

    private(set) var state: State = .healthy
    let backoff: Backoff

    init(backoff: Backoff) {
        self.backoff = backoff
    }

    mutating func mayConnect(now: Deadline) -> Decision {
        switch self.state {
        case .healthy:
            return .proceed
        case .open(let until, let failures, let lastError):
            guard now >= until else { return .refuse(lastError: lastError) }
            self.state = .probing(failures: failures, lastError: lastError)
            return .proceed
        case .probing(_, let lastError):
            return .refuse(lastError: lastError)
        }
    }

    mutating func connectSucceeded() {
        self.state = .healthy
    }

    /// - Returns: the backoff now in force.
    @discardableResult
    mutating func connectFailed<R: RandomNumberGenerator>(_ error: any Error, now: Deadline, random: inout R) -> TimeAmount {
        let failures: Int
        switch self.state {
        case .healthy: failures = 1
        case .probing(let previous, _): failures = previous + 1
        case .open(let until, let previous, _):
            // A connect that started before the breaker opened failed too: same outage, same backoff.
            self.state = .open(until: until, failures: previous, lastError: error)
            return until - now
        }
        let delay = self.backoff.delay(afterFailures: failures, using: &random)
        self.state = .open(until: now + delay, failures: failures, lastError: error)
        return delay
    }

    var isHealthy: Bool {
        if case .healthy = self.state { return true }
        return false
    }
}

/// The breaker shared by every loop of one pool (touched only when connecting, never per lease).
///
/// Thread-safe: a lock around `ConnectBreaker`.
final class SharedConnectBreaker: Sendable {
    private let breaker: LockedValue<ConnectBreaker>

    init(backoff: Backoff) {
        self.breaker = LockedValue(ConnectBreaker(backoff: backoff))
    }

    func mayConnect(now: Deadline) -> ConnectBreaker.Decision {
        self.breaker.withLock { $0.mayConnect(now: now) }
    }

    func connectSucceeded() {
        self.breaker.withLock { $0.connectSucceeded() }
    }

    func connectFailed(_ error: any Error, now: Deadline) {
        var random = SystemRandomNumberGenerator()
        self.breaker.withLock { _ = $0.connectFailed(error, now: now, random: &random) }
    }
}
