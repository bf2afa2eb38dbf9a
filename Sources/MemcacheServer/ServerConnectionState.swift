import Channels

/// A server connection's state, as a value with no I/O: whether it serves, waits for its peer
/// to take replies, or closes; whether it is counted among the loop's connections; and the
/// clock on a request left incomplete.
///
/// `MemcacheServerHandler` feeds it the channel's events and carries out what they return
/// (the time is passed in). The phases:
///
/// - `fresh` → `serving` on activation, or straight to `closing` when the server is draining,
///   is over its connection limit, or was told to close before the connection became active.
/// - `serving` ⇄ `paused`: paused while the peer does not take its replies (the channel is
///   not writable); requests read meanwhile wait, unrun, and reading stops.
/// - any → `closing` (a broken request, `quit`, a drain, an incomplete request that waited
///   too long, a close from the server): nothing more is read or run.
/// - any → `closed` when the channel goes inactive.
///
/// The incomplete-request clock starts when a read leaves the start of a request behind and
/// keeps its start while the client trickles the rest (one timer at a time); a completed
/// request, a pause or the end of the leftover bytes stops it.
struct ServerConnectionState {
    enum Phase: Equatable {
        case fresh, serving, paused, closing, closed
    }

    /// What to do when the connection becomes active.
    enum Activation: Equatable {
        /// Serve it.
        case serve
        /// Close it at once: the server is draining, or it was closed before it was active.
        case close
        /// Answer `SERVER_ERROR Too many open connections`, as memcached does, then close.
        case refuseTooMany
    }

    /// What to do when the channel's writability changes.
    enum WritabilityStep: Equatable {
        /// Nothing: the connection is closing or closed.
        case ignore
        /// The peer takes replies again: run the requests that waited, then read again.
        case resume
        /// Set reading on or off (reading follows writability while serving).
        case setAutoRead(Bool)
    }

    /// What to do when the incomplete-request timer fires.
    enum IncompleteTimerStep: Equatable {
        /// Nothing: the request completed, or the connection paused or closes.
        case none
        /// A newer incomplete request is being watched: check again at this deadline.
        case rearm(Deadline)
        /// The request stayed incomplete for the whole timeout: close the connection.
        case close
    }

    // The 8-byte fields first, the bytes after them, and the timeout without an optional's
    // extra byte: 20 bytes, which with the handler's 4-byte counter beside them fill 24
    // (every connection holds one).
    /// How long a request may stay incomplete; nil: forever.
    var incompleteRequestTimeout: TimeAmount? {
        self.timeoutNanoseconds == Self.noTimeout ? nil : TimeAmount(nanoseconds: self.timeoutNanoseconds)
    }
    private let timeoutNanoseconds: Int64
    private static let noTimeout = Int64.min
    /// When the leftover bytes started to hold an incomplete request.
    private(set) var incompleteSince: Deadline?
    private(set) var phase = Phase.fresh
    /// Counted among the loop's connections (from activation until the channel is inactive).
    private(set) var registered = false
    /// Whether a timer is set to check the incomplete request.
    private(set) var incompleteTimerArmed = false

    init(incompleteRequestTimeout: TimeAmount?) {
        // A timeout of Int64.min nanoseconds (an absurd configuration) is as immediate as the
        // next smaller one.
        self.timeoutNanoseconds =
            incompleteRequestTimeout.map { max($0.nanoseconds, Self.noTimeout + 1) } ?? Self.noTimeout
    }

    /// Whether bytes read are kept (and, while serving, run).
    var readsInput: Bool { self.phase == .serving || self.phase == .paused }
    /// Whether requests are run now.
    var runsRequests: Bool { self.phase == .serving }
    /// Whether the connection has stopped serving for good.
    var isClosing: Bool { self.phase == .closing || self.phase == .closed }

    /// The connection became active; it is counted from now on.
    mutating func activated(draining: Bool, overLimit: Bool) -> Activation {
        self.registered = true
        guard self.phase == .fresh else { return .close }
        if draining {
            self.phase = .closing
            return .close
        }
        if overLimit {
            self.phase = .closing
            return .refuseTooMany
        }
        self.phase = .serving
        return .serve
    }

    /// The channel went inactive. Returns whether it was counted (and must be uncounted now).
    mutating func deactivated() -> Bool {
        defer {
            self.phase = .closed
            self.registered = false
            self.stopIncompleteClock()
            self.incompleteTimerArmed = false
        }
        return self.registered
    }

    /// The channel stopped being writable while requests were run: stop running and reading.
    mutating func pause() {
        guard self.phase == .serving else { return }
        self.phase = .paused
        self.stopIncompleteClock()
    }

    /// The channel's writability changed to `isWritable`.
    mutating func writabilityChanged(isWritable: Bool) -> WritabilityStep {
        switch self.phase {
        case .paused where isWritable:
            self.phase = .serving
            return .resume
        case .paused:
            return .setAutoRead(false)
        case .serving, .fresh:
            return .setAutoRead(isWritable)
        case .closing, .closed:
            return .ignore
        }
    }

    /// No incomplete request is left (one completed, or nothing is left over).
    mutating func stopIncompleteClock() {
        self.incompleteSince = nil
    }

    /// A read left the start of a request behind, `now`. Returns the deadline at which to
    /// check it, when a timer must be set (none is yet, and a timeout is configured).
    mutating func leftIncomplete(now: Deadline) -> Deadline? {
        guard let timeout = self.incompleteRequestTimeout, self.phase == .serving else { return nil }
        let since = self.incompleteSince ?? now
        self.incompleteSince = since
        guard !self.incompleteTimerArmed else { return nil }
        self.incompleteTimerArmed = true
        return since + timeout
    }

    /// The incomplete-request timer fired, `now`.
    mutating func incompleteTimerFired(now: Deadline) -> IncompleteTimerStep {
        self.incompleteTimerArmed = false
        guard self.phase == .serving, let timeout = self.incompleteRequestTimeout, let since = self.incompleteSince
        else { return .none }
        if now - since >= timeout { return .close }
        // The request it was set for completed and a newer one is incomplete since `since`.
        self.incompleteTimerArmed = true
        return .rearm(since + timeout)
    }

    /// The connection starts closing. Returns false when it was closing already.
    mutating func startClosing() -> Bool {
        guard !self.isClosing else { return false }
        self.phase = .closing
        self.stopIncompleteClock()
        self.incompleteTimerArmed = false
        return true
    }
}
