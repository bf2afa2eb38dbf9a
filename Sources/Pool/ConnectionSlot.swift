import Channels
import DequeModule

/// Identifies one connection of a pool.
@usableFromInline
package struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    let value: UInt64
    @usableFromInline package var description: String { "c\(self.value)" }
}

/// One connection of a loop's machine, from the moment a connect is asked for until the
/// connection is gone.
///
/// Loop-confined (a value inside `LoopPoolMachine`). States:
/// ```
/// connecting ──succeeded──▶ ready ──past its lifetime or maximum uses──▶ retiring
///     │                       │ ╲                                  │
///  failed / refused       unusable, idle too long,          last lease ends
///     │                   shutdown, yielded                        │
///     ▼                       ▼                                    ▼
///  (removed)               closing ◀───────────────────────────────┘
///                             │ closed
///                             ▼
///                          (removed)
/// ```
/// A ready connection with no lease is idle; a retiring one takes no new lease.
struct ConnectionSlot<Connection: AnyObject> {
    enum State {
        case connecting
        case ready(Connection)
        case retiring(Connection)
        case closing(Connection)
    }

    let id: ConnectionID
    var state: State
    /// Callers using the connection now.
    var leases = 0
    let created: Deadline
    /// Since when it has had no lease (meaningful while ready and unleased).
    var idleSince: Deadline
    /// When each current lease began, oldest first (only when the pool measures use time).
    var leaseStarts = Deque<Deadline>()
    /// How long it may live (the pool's `maxLifetime`, jittered), set when it connects.
    var lifetime: TimeAmount?
    /// Leases it has served (counted only when the pool limits uses).
    var uses = 0
    /// Why it is closing, or will close once it is retiring; nil while it serves.
    var closeReason: PoolCloseReason?
    /// The start of the lease last reported as held too long (each lease is reported once).
    var reportedLongLease: Deadline?
    /// Leased for a keep-alive ping now.
    var pinging = false
    /// When its last keep-alive ping ended.
    var lastPinged: Deadline?

    init(id: ConnectionID, created: Deadline) {
        self.id = id
        self.state = .connecting
        self.created = created
        self.idleSince = created
    }

    var connection: Connection? {
        switch self.state {
        case .connecting: return nil
        case .ready(let connection), .retiring(let connection), .closing(let connection): return connection
        }
    }

    var isConnecting: Bool {
        if case .connecting = self.state { return true }
        return false
    }

    var isReady: Bool {
        if case .ready = self.state { return true }
        return false
    }

    /// The connection when ready, unretained.
    // SAFETY: the slot holds it (while ready, retiring or closing), so the caller uses it
    // before the slot is let go.
    var readyConnection: Unmanaged<Connection>? {
        // SAFETY: see above; the reference is read, not kept.
        if case .ready(let connection) = self.state { return Unmanaged.passUnretained(connection) }
        return nil
    }

    var isIdle: Bool { self.isReady && self.leases == 0 }

    /// Connecting, ready or retiring: not on its way out.
    var isLive: Bool {
        if case .closing = self.state { return false }
        return true
    }

    /// Marks it closing for `reason`; returns the connection to close (nil when it was not
    /// open).
    mutating func close(_ reason: PoolCloseReason) -> Connection? {
        guard let connection = self.connection, self.isLive else { return nil }
        self.state = .closing(connection)
        self.closeReason = reason
        return connection
    }

    /// Takes no new lease from now on and closes for `reason` when its last lease ends.
    mutating func retire(_ reason: PoolCloseReason) {
        guard case .ready(let connection) = self.state else { return }
        self.state = .retiring(connection)
        self.closeReason = reason
    }
}
