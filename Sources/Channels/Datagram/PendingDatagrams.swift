import DequeModule

/// The outbound queue of one datagram channel: datagrams with their destinations and
/// promises, the part that was flushed, and the bytes buffered (for the watermarks).
///
/// Loop-confined. Unlike a stream's queue, a datagram leaves whole or not at all.
struct PendingDatagrams {
    struct Entry {
        let payload: ByteBuffer
        /// nil on a connected channel writing bare buffers.
        let destination: SocketAddress?
        let promise: EventLoopPromise<Void>?
    }

    private var entries = Deque<Entry>()
    private var flushedCount = 0
    private(set) var bufferedBytes = 0

    var isEmpty: Bool { self.entries.isEmpty }
    var hasFlushed: Bool { self.flushedCount > 0 }

    mutating func append(_ entry: Entry) {
        self.bufferedBytes += entry.payload.readableBytes
        self.entries.append(entry)
    }

    mutating func markFlushed() {
        self.flushedCount = self.entries.count
    }

    /// Sends as many flushed datagrams as one `sendmmsg` takes.
    func send(to fd: Int32, using vectors: DatagramVectors) throws -> IOResult<Int> {
        let entries = self.entries
        let flushed = self.flushedCount
        // SAFETY: the payloads stay alive in `entries` (held by this copy) and unchanged
        // during the call, so their readable pointers stay valid.
        return try vectors.send(fd) { index in
            index < flushed ? (entries[index].payload.readablePointer, entries[index].destination) : nil
        }
    }

    /// Removes the first `count` flushed datagrams, appending their promises to `completed`.
    mutating func removeSent(_ count: Int, completed: inout [EventLoopPromise<Void>?]) {
        for _ in 0..<min(count, self.flushedCount) {
            let entry = self.entries.removeFirst()
            self.flushedCount -= 1
            self.bufferedBytes -= entry.payload.readableBytes
            completed.append(entry.promise)
        }
    }

    /// Removes the first flushed datagram (the kernel refused it) and returns it.
    mutating func removeFirstFlushed() -> Entry? {
        guard self.flushedCount > 0 else { return nil }
        let entry = self.entries.removeFirst()
        self.flushedCount -= 1
        self.bufferedBytes -= entry.payload.readableBytes
        return entry
    }

    /// Empties the queue, handing back every promise (to be failed).
    mutating func removeAll() -> [EventLoopPromise<Void>?] {
        let promises = self.entries.map(\.promise)
        self.entries.removeAll()
        self.flushedCount = 0
        self.bufferedBytes = 0
        return promises
    }
}
