public import Channels
import Pool

/// When a server of a `MemcacheServerSet` is left out, and for how long.
///
/// Thread-safe (a value). The defaults are memcached's own proxy's: 3 failures in a row
/// eject a server, which is left out for 3 s; then one probe (`version`) must answer before it
/// takes its keys back. A server that fails again soon after returning — or whose probe fails
/// — is flapping: each such ejection doubles its time out, up to `maximumRetryAfter`, until it
/// has stayed healthy for `flapWindow`.
///
/// ```swift
/// var ejection = MemcacheEjectionPolicy()
/// ejection.failureLimit = 5
/// ejection.retryAfter = .seconds(10)
/// ```
public struct MemcacheEjectionPolicy: Sendable, Equatable {
    /// Failures in a row (connect failures, timeouts, broken connections; not the server's
    /// error replies) that eject a server.
    public var failureLimit = 3
    /// How long an ejected server is left out the first time.
    public var retryAfter: TimeAmount = .seconds(3)
    /// The longest a flapping server is left out.
    public var maximumRetryAfter: TimeAmount = .seconds(60)
    /// How long a returned server must stay healthy before its next ejection counts as a
    /// first one again.
    public var flapWindow: TimeAmount = .seconds(60)
    /// How long the probe of an ejected server may take.
    public var probeTimeout: TimeAmount = .seconds(1)

    public init() {}
}

/// Whether a server of a set takes its keys.
public enum MemcacheServerState: Sendable, Equatable, CustomStringConvertible {
    case active
    /// Left out; probed once `until` has passed.
    case ejected(until: Deadline)
    /// Left out while a probe is under way.
    case probing

    public var description: String {
        switch self {
        case .active: return "active"
        case .ejected(let until):
            let left = until - Deadline.now()
            return "ejected (probed in \(left > .zero ? left : .zero))"
        case .probing: return "probing"
        }
    }
}

/// One server's failures and ejections: a pure state machine (times are passed in), run
/// under the set's lock.
struct ServerHealth: Sendable, Equatable {
    private(set) var state = MemcacheServerState.active
    /// Failures since the last success.
    private(set) var failureStreak = 0
    /// Ejections since the server last stayed healthy for the flap window.
    private(set) var flaps = 0
    /// Every ejection so far.
    private(set) var ejections = 0
    /// How long the latest ejection leaves it out.
    private(set) var hold: TimeAmount?
    private var returnedAt: Deadline?

    var isActive: Bool { self.state == .active }

    enum Transition: Equatable {
        case ejected(hold: TimeAmount)
        case returned
    }

    mutating func succeeded() {
        self.failureStreak = 0
    }

    /// A failure of a kind that counts; ejects at the limit.
    mutating func failed(now: Deadline, policy: MemcacheEjectionPolicy) -> Transition? {
        guard self.isActive else { return nil }
        self.failureStreak += 1
        guard self.failureStreak >= policy.failureLimit else { return nil }
        if let returnedAt = self.returnedAt, now - returnedAt >= policy.flapWindow { self.flaps = 0 }
        return self.eject(now: now, policy: policy)
    }

    /// Whether a probe is due (and so starts now: the state becomes `.probing`).
    mutating func startProbeIfDue(now: Deadline) -> Bool {
        guard case .ejected(let until) = self.state, now >= until else { return false }
        self.state = .probing
        return true
    }

    mutating func probeSucceeded(now: Deadline) -> Transition? {
        guard self.state == .probing else { return nil }
        self.state = .active
        self.failureStreak = 0
        self.returnedAt = now
        return .returned
    }

    /// A failed probe is one more flap: out again, for longer.
    mutating func probeFailed(now: Deadline, policy: MemcacheEjectionPolicy) -> Transition? {
        guard self.state == .probing else { return nil }
        return self.eject(now: now, policy: policy)
    }

    private mutating func eject(now: Deadline, policy: MemcacheEjectionPolicy) -> Transition {
        self.flaps += 1
        self.ejections += 1
        self.failureStreak = 0
        // retryAfter × 2^(flaps − 1), capped (and no overflow however many flaps).
        var hold = policy.retryAfter
        for _ in 1..<self.flaps where hold < policy.maximumRetryAfter { hold = hold * 2 }
        hold = min(hold, policy.maximumRetryAfter)
        self.hold = hold
        self.state = .ejected(until: now + hold)
        return .ejected(hold: hold)
    }
}
