import DequeModule

/// The outbound byte queue of one socket: written buffers with their promises, the part of
/// them that was flushed, and how many bytes are buffered in all (for the watermarks).
///
/// Loop-confined. Promises are completed by the channel after the queue is updated, so a
/// promise callback that writes or closes sees a consistent queue.
struct PendingWrites {
    struct Entry {
        var buffer: ByteBuffer
        let promise: EventLoopPromise<Void>?
    }

    private var entries = Deque<Entry>()
    /// The first `flushedCount` entries are flushed (to be written now).
    private var flushedCount = 0
    /// All buffered bytes, flushed or not.
    private(set) var bufferedBytes = 0

    var isEmpty: Bool { self.entries.isEmpty }
    var hasFlushed: Bool { self.flushedCount > 0 }

    /// The loop keeps one spare queue storage, lent to a channel for its writes and given
    /// back once they are all written: an idle channel holds no queue storage, and a busy
    /// one needs no allocation to queue a write.
    mutating func borrowStorage(from spare: inout Deque<Entry>) {
        guard self.entries.isEmpty else { return }
        self.entries = Deque()
        swap(&self.entries, &spare)
    }

    mutating func returnStorage(to spare: inout Deque<Entry>) {
        guard self.entries.isEmpty else { return }
        spare = Deque()
        swap(&self.entries, &spare)
    }

    mutating func append(_ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        self.bufferedBytes += buffer.readableBytes
        self.entries.append(Entry(buffer: buffer, promise: promise))
    }

    mutating func markFlushed() {
        self.flushedCount = self.entries.count
    }

    /// Writes as many flushed bytes as the kernel takes, in one gathering write.
    func write(to fd: Int32, using vectors: IOVectors) throws -> IOResult<Int> {
        let entries = self.entries
        let flushed = self.flushedCount
        // SAFETY: the buffers stay alive in `entries` (held by this copy) and are not
        // mutated during the call, so their readable pointers stay valid.
        return try vectors.write(fd) { index in
            index < flushed ? entries[index].buffer.readablePointer : nil
        }
    }

    /// Drops `written` bytes from the front; appends the promises of the buffers that are now
    /// fully written to `completed`, and hands each such buffer to `done` (the loop keeps a
    /// read buffer that came back this way for its next read).
    mutating func consume(
        _ written: Int, completed: inout [EventLoopPromise<Void>?], done: (inout ByteBuffer) -> Void = { _ in }
    ) {
        var remaining = written
        self.bufferedBytes -= written
        while self.flushedCount > 0, let size = self.entries.first?.buffer.readableBytes {
            if size > remaining {
                self.entries[self.entries.startIndex].buffer.moveReaderIndex(forwardBy: remaining)
                return
            }
            remaining -= size
            var first = self.entries.removeFirst()
            self.flushedCount -= 1
            completed.append(first.promise)
            done(&first.buffer)
        }
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
