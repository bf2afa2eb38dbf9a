import Channels
import Logging

/// The open connections of one loop, kept so that a shutdown can drain them.
///
/// Loop-confined: every method runs on the loop the object belongs to (handlers call it from
/// their events, the server from tasks it submits to that loop).
final class LoopConnections: @unchecked Sendable { // SAFETY: touched only on its loop, above
    private var open: [ObjectIdentifier: MemcacheServerHandler] = [:]
    /// The server's logger with this loop as metadata: held here, once per loop, rather than
    /// by each connection (an idle connection's memory is counted in bytes).
    let logger: Logger
    /// The loop every method runs on (checked in debug builds).
    let eventLoop: any EventLoop

    init(logger: Logger, eventLoop: any EventLoop) {
        self.logger = logger
        self.eventLoop = eventLoop
    }
    /// Set once the server drains: a connection accepted after that is closed at once.
    private(set) var draining = false
    /// A reply buffer no connection holds: lent to whichever answers next, so that replies
    /// need no allocation per read burst and an idle connection holds no buffer.
    private var spareReplies = ByteBuffer()

    var count: Int { self.open.count }

    func add(_ handler: MemcacheServerHandler) {
        self.eventLoop.assertInEventLoop()
        self.open[ObjectIdentifier(handler)] = handler
    }

    func remove(_ handler: MemcacheServerHandler) {
        self.eventLoop.assertInEventLoop()
        self.open[ObjectIdentifier(handler)] = nil
    }

    func takeSpareReplies() -> ByteBuffer {
        var buffer = ByteBuffer()
        swap(&buffer, &self.spareReplies)
        return buffer
    }

    /// Keeps `buffer` (emptied) as the spare unless something else still holds it (a write
    /// waiting for the socket) or it grew past what a burst usually needs.
    func giveBackReplies(_ buffer: inout ByteBuffer) {
        guard buffer.capacity > 0, buffer.capacity <= 256 << 10, buffer.isUniquelyOwned() else { return }
        buffer.clear()
        swap(&buffer, &self.spareReplies)
    }

    /// Asks every connection to finish: answer what it has read, send it, close. Returns
    /// when each will have closed.
    func drain() -> [EventLoopFuture<Void>] {
        self.eventLoop.assertInEventLoop()
        self.draining = true
        return self.open.values.compactMap { $0.drain() }
    }

    /// Closes whatever is still open (the drain's deadline passed).
    func closeAll() {
        self.eventLoop.assertInEventLoop()
        for handler in self.open.values { handler.closeNow() }
    }
}
