public import Channels

/// Puts one request's reply back together from its datagrams: each message's datagrams in
/// sequence order, whatever order they arrived in, messages one after another.
///
/// Thread-safe (a value); one per request in flight. Feed every datagram of the request's
/// ID to `add(_:payload:into:)`; the bytes of each completed message are appended to the
/// caller's stream, where a `MemcacheResponseDecoder` reads the reply. A repeated datagram
/// is ignored. A lost one is `MemcacheError.datagramLost` once the next message begins, or
/// leaves the last message incomplete, which the caller's timeout turns into an error.
///
/// ```swift
/// var assembler = MemcacheUDPReplyAssembler()
/// var stream = ByteBuffer()
/// try assembler.add(header, payload: payload, into: &stream)
/// if !assembler.isCollectingMessage, let reply = try decoder.decode(buffer: &stream) { … }
/// ```
public struct MemcacheUDPReplyAssembler: Sendable {
    /// The bytes one reply may reach in all (default 64 MiB, `MemcacheResponseDecoder`'s
    /// largest value).
    public let maximumBytes: Int
    private var total = 0
    private var parts: [ByteBuffer?] = []
    private var partsReceived = 0
    private var bytesReceived = 0

    public init(maximumBytes: Int = 64 << 20) {
        self.maximumBytes = maximumBytes
    }

    /// Whether a message of several datagrams is partly received.
    public var isCollectingMessage: Bool { self.total > 0 }

    /// Adds one datagram of this request; appends its message's bytes to `stream` once the
    /// message is complete.
    ///
    /// - Throws: `MemcacheError.datagramLost` when a datagram of another message arrives
    ///   before the one being collected is complete; `.valueTooLarge` past `maximumBytes`.
    public mutating func add(_ header: MemcacheUDPFrameHeader, payload: ByteBuffer, into stream: inout ByteBuffer)
        throws
    {
        self.bytesReceived += payload.readableBytes
        guard self.bytesReceived <= self.maximumBytes else {
            throw MemcacheError(.valueTooLarge, "a UDP reply longer than \(self.maximumBytes) bytes")
        }
        let total = Int(header.total)
        let sequence = Int(header.sequence)
        if self.total == 0 {
            if total == 1 {
                stream.writeImmutableBuffer(payload)
                return
            }
            self.total = total
            self.parts = Array(repeating: nil, count: total)
            self.partsReceived = 0
        }
        guard total == self.total else {
            throw MemcacheError(
                .datagramLost,
                "request \(header.requestID): \(self.partsReceived) of \(self.total) datagrams of a message were in when the next message began"
            )
        }
        // The network may deliver a datagram twice: the first copy counts.
        guard self.parts[sequence] == nil else { return }
        self.parts[sequence] = payload
        self.partsReceived += 1
        guard self.partsReceived == self.total else { return }
        for part in self.parts {
            if let part { stream.writeImmutableBuffer(part) }
        }
        self.total = 0
        self.parts = []
    }
}
