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
    mutating func connectFailed<R: RandomNumberGenerator>(_ error: any Error, now: Deadline, random: inout R)
        -> TimeAmount
    {
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
/// Thread-safe: a lock around `ConnectBreaker`. Each call answers with the transition it
/// made, if any, for the pool to log (outside the lock).
final class SharedConnectBreaker: Sendable {
    /// A change of the breaker's state worth an operator's attention.
    enum Transition {
        /// The first failure: connects are refused for `backoff`.
        case opened(backoff: TimeAmount)
        /// The backoff passed: one connect probes the server.
        case probing(failures: Int)
        /// The probe failed too: refused for a longer `backoff`.
        case probeFailed(failures: Int, backoff: TimeAmount)
        /// A connect succeeded after `failures` failed ones.
        case closed(failures: Int)
    }

    private let breaker: LockedValue<ConnectBreaker>

    init(backoff: Backoff) {
        self.breaker = LockedValue(ConnectBreaker(backoff: backoff))
    }

    func mayConnect(now: Deadline) -> (decision: ConnectBreaker.Decision, transition: Transition?) {
        self.breaker.withLock { breaker in
            let wasOpen: Bool
            if case .open = breaker.state { wasOpen = true } else { wasOpen = false }
            let decision = breaker.mayConnect(now: now)
            if wasOpen, case .probing(let failures, _) = breaker.state {
                return (decision, .probing(failures: failures))
            }
            return (decision, nil)
        }
    }

    func connectSucceeded() -> Transition? {
        self.breaker.withLock { breaker in
            let failures: Int
            switch breaker.state {
            case .healthy: return nil
            case .open(_, let count, _), .probing(let count, _): failures = count
            }
            breaker.connectSucceeded()
            return .closed(failures: failures)
        }
    }

    func connectFailed(_ error: any Error, now: Deadline) -> Transition? {
        var random = SystemRandomNumberGenerator()
        return self.breaker.withLock { breaker in
            let before = breaker.state
            let backoff = breaker.connectFailed(error, now: now, random: &random)
            switch (before, breaker.state) {
            case (.healthy, .open): return .opened(backoff: backoff)
            case (.probing, .open(_, let failures, _)): return .probeFailed(failures: failures, backoff: backoff)
            default: return nil // a connect that started before the breaker opened: same outage
            }
        }
    }
}
