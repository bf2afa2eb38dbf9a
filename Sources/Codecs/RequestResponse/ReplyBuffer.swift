package import Channels

/// Reply bytes on their way to a client handler's decoder: whole replies are decoded straight
/// from the channel's read buffer; only the tail of a reply cut across reads is copied, and
/// the next read is appended to it.
///
/// Loop-confined: a value kept by its handler. Use: `var bytes = replies.take(read)`, decode
/// from `bytes`, then `replies.keep(&bytes)`. The decoder sees its unconsumed bytes again,
/// followed by the new ones, so it may remember how far it scanned.
package struct ReplyBuffer {
    private var partial = ByteBuffer()
    /// Whether the bytes handed out by the last `take` are the read buffer itself.
    private var handedOutReadBuffer = true

    package init() {}

    /// Whether part of a reply is waiting for the rest.
    package var hasPartialReply: Bool { self.partial.readableBytes > 0 }

    /// The bytes to decode now: `incoming` itself, or the kept tail followed by it.
    package mutating func take(_ incoming: ByteBuffer) -> ByteBuffer {
        guard self.partial.readableBytes > 0 else {
            self.handedOutReadBuffer = true
            return incoming
        }
        self.handedOutReadBuffer = false
        self.partial.writeImmutableBuffer(incoming)
        let pending = self.partial
        self.partial = ByteBuffer()
        return pending
    }

    /// Keeps what the decoder left of `bytes` (from `take`) for the next read; `bytes` is
    /// emptied (taken as `inout` so that its storage can be found unshared and reused).
    package mutating func keep(_ bytes: inout ByteBuffer) {
        defer { bytes = ByteBuffer() }
        if bytes.readableBytes > 0 {
            if self.handedOutReadBuffer {
                // Copied, so the channel can reuse its read buffer.
                if self.partial.capacity >= bytes.readableBytes, self.partial.isUniquelyOwned() {
                    self.partial.clear()
                } else {
                    self.partial = ByteBuffer(capacity: max(bytes.readableBytes, 4096))
                }
                self.partial.writeImmutableBuffer(bytes)
            } else {
                swap(&self.partial, &bytes) // a move: the storage stays unshared
                if self.partial.readerIndex > 4096 { self.partial.discardReadBytes() }
            }
        } else if !self.handedOutReadBuffer, bytes.isUniquelyOwned() {
            // Keep the storage for the next cut reply (unless decoded values still use it).
            swap(&self.partial, &bytes)
            self.partial.clear()
        }
    }

    /// Drops everything (the connection failed).
    package mutating func reset() {
        self.partial = ByteBuffer()
    }
}
