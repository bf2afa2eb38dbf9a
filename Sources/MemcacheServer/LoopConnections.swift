import Channels

/// The open connections of one loop, kept so that a shutdown can drain them.
///
/// Loop-confined: every method runs on the loop the object belongs to (handlers call it from
/// their events, the server from tasks it submits to that loop).
final class LoopConnections: @unchecked Sendable {  // SAFETY: touched only on its loop, above
    private var open: [ObjectIdentifier: MemcacheServerHandler] = [:]
    /// Set once the server drains: a connection accepted after that is closed at once.
    private(set) var draining = false

    var count: Int { self.open.count }

    func add(_ handler: MemcacheServerHandler) {
        self.open[ObjectIdentifier(handler)] = handler
    }

    func remove(_ handler: MemcacheServerHandler) {
        self.open[ObjectIdentifier(handler)] = nil
    }

    /// Asks every connection to finish: answer what it has read, send it, close. Returns
    /// when each will have closed.
    func drain() -> [EventLoopFuture<Void>] {
        self.draining = true
        return self.open.values.compactMap { $0.drain() }
    }

    /// Closes whatever is still open (the drain's deadline passed).
    func closeAll() {
        for handler in self.open.values { handler.closeNow() }
    }
}
