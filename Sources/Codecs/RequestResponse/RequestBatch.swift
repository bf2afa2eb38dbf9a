public import Channels

/// The requests a client handler encodes during one loop turn, back to back in one reused
/// buffer, written once when the turn ends (so many callers' requests leave in one `writev`).
///
/// Loop-confined: a value kept by its handler (`PipelinedClientHandler`,
/// `MemcacheClientHandler`).
@usableFromInline
package struct RequestBatch {
    /// The turn's encoded requests (valid while `isOpen`).
    @usableFromInline package var buffer = ByteBuffer()
    /// Whether a request was added this turn (and a turn-end flush was asked for).
    @usableFromInline package private(set) var isOpen = false

    @inlinable package init() {}

    /// Opens the turn's batch before the first request of a turn.
    ///
    /// - Returns: true when it was closed: the handler then asks for `flushAtEndOfTurn()`.
    @inlinable
    package mutating func open() -> Bool {
        guard !self.isOpen else { return false }
        self.isOpen = true
        if self.buffer.capacity == 0 { self.buffer = ByteBuffer(capacity: 2048) } else { self.buffer.clear() }
        return true
    }

    /// Ends the turn: the bytes to write, or nil when nothing was added.
    package mutating func close() -> ByteBuffer? {
        guard self.isOpen else { return nil }
        self.isOpen = false
        guard self.buffer.readableBytes > 0 else { return nil }
        let bytes = self.buffer
        // A batch that grew large (a big value) is not kept: the next turn starts small.
        if self.buffer.capacity > 256 << 10 { self.buffer = ByteBuffer() }
        return bytes
    }
}
