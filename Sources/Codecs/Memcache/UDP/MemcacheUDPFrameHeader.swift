public import Channels

/// The 8-byte header memcached puts before every UDP datagram: request ID, sequence number,
/// number of datagrams in the message, and two reserved bytes (big-endian 16-bit each).
///
/// Thread-safe (a value). A request fits in one datagram (memcached drops any other); a reply
/// comes as one or more *messages* of up to 1,400-byte datagrams, each message numbered
/// 0..<total on its own (memcached 1.6 sends a multi-get's values and its `END` as separate
/// messages under the same request ID). `MemcacheUDPReplyAssembler` puts them back together.
///
/// ```swift
/// var datagram = ByteBuffer()
/// MemcacheUDPFrameHeader(requestID: 7, sequence: 0, total: 1).write(into: &datagram)
/// datagram.writeString("get greeting\r\n")
/// ```
public struct MemcacheUDPFrameHeader: Sendable, Hashable {
    /// The header's size in bytes.
    public static let size = 8
    /// memcached's largest datagram, header included (`UDP_MAX_PAYLOAD_SIZE`).
    public static let maximumDatagramSize = 1400

    /// Chosen by the client; the reply carries it back.
    public var requestID: UInt16
    /// The datagram's place in its message, 0..<total.
    public var sequence: UInt16
    /// How many datagrams the message has (at least 1).
    public var total: UInt16

    public init(requestID: UInt16, sequence: UInt16 = 0, total: UInt16 = 1) {
        self.requestID = requestID
        self.sequence = sequence
        self.total = total
    }

    /// Reads a header from the front of `datagram`, leaving the payload readable.
    ///
    /// - Throws: `MemcacheError.protocolViolation` when the datagram is shorter than a
    ///   header, announces no datagrams, or numbers this one outside its message. The
    ///   reserved bytes are not checked (memcached does not either).
    public static func read(from datagram: inout ByteBuffer) throws -> MemcacheUDPFrameHeader {
        guard datagram.readableBytes >= Self.size,
            let requestID = datagram.readInteger(as: UInt16.self),
            let sequence = datagram.readInteger(as: UInt16.self),
            let total = datagram.readInteger(as: UInt16.self),
            datagram.readInteger(as: UInt16.self) != nil
        else {
            throw MemcacheError(
                .protocolViolation,
                "a memcache UDP datagram starts with an 8-byte header; this one has \(datagram.readableBytes) bytes")
        }
        guard total > 0, sequence < total else {
            throw MemcacheError(
                .protocolViolation, "a memcache UDP datagram numbered \(sequence) of \(total) (request \(requestID))")
        }
        return MemcacheUDPFrameHeader(requestID: requestID, sequence: sequence, total: total)
    }

    /// Appends the header's 8 bytes to `buffer`.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(self.requestID)
        buffer.writeInteger(self.sequence)
        buffer.writeInteger(self.total)
        buffer.writeInteger(UInt16(0))
    }

    /// Cuts `payload` into one message of datagrams of at most `maximumDatagramSize` bytes
    /// (header included) under `requestID`, as a server sends a reply.
    ///
    /// - Throws: `MemcacheError.valueTooLarge` when the payload needs more than 65,535
    ///   datagrams (about 91 MB at the default size).
    public static func datagrams(
        requestID: UInt16, payload: ByteBuffer, maximumDatagramSize: Int = Self.maximumDatagramSize
    ) throws -> [ByteBuffer] {
        let room = max(1, maximumDatagramSize - Self.size)
        let count = max(1, (payload.readableBytes + room - 1) / room)
        guard count <= Int(UInt16.max) else {
            throw MemcacheError(
                .valueTooLarge, "a reply of \(payload.readableBytes) bytes needs more than 65,535 UDP datagrams")
        }
        var rest = payload
        var datagrams: [ByteBuffer] = []
        datagrams.reserveCapacity(count)
        for sequence in 0..<count {
            let part = rest.readSlice(length: min(room, rest.readableBytes)) ?? ByteBuffer()
            var datagram = ByteBuffer(capacity: Self.size + part.readableBytes)
            MemcacheUDPFrameHeader(requestID: requestID, sequence: UInt16(sequence), total: UInt16(count))
                .write(into: &datagram)
            datagram.writeImmutableBuffer(part)
            datagrams.append(datagram)
        }
        return datagrams
    }
}
