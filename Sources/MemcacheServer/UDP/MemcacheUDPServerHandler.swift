import Channels
import Codecs

/// Serves memcached's UDP protocol on one datagram socket: each datagram is one request
/// (its 8-byte frame header, then commands), each reply goes back to its sender in
/// datagrams of at most 1,400 bytes under the request's ID.
///
/// Loop-confined, like every handler. As memcached does, a datagram that announces more than
/// one datagram (a multi-packet request) or is too short for a header is dropped unanswered.
/// Unlike memcached, which keeps an unfinished command waiting for the next datagram (of
/// whichever client), an unfinished request is answered `CLIENT_ERROR` at once: a UDP
/// request fits in one datagram. A reply too long for the frame format (more than 65,535
/// datagrams: a multi-get of many large values) is replaced by one `SERVER_ERROR` line that
/// says so, so the client learns why instead of waiting for its timeout.
final class MemcacheUDPServerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let processor: CommandProcessor
    private let loopCounters: ServerCounters.Loop
    private let maximumLineLength: Int
    /// The frame format's datagram size (smaller only in tests, to reach its limit cheaply).
    private let maximumDatagramSize: Int
    private var replies = ByteBuffer()

    init(
        store: ItemStore, counters: ServerCounters, loopIndex: Int, maximumLineLength: Int,
        maximumDatagramSize: Int = MemcacheUDPFrameHeader.maximumDatagramSize
    ) {
        self.processor = CommandProcessor(store: store, counters: counters)
        self.loopCounters = counters.loop(loopIndex)
        self.maximumLineLength = maximumLineLength
        self.maximumDatagramSize = maximumDatagramSize
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let datagram = self.unwrapInboundIn(data)
        var input = datagram.data
        guard !datagram.isTruncated, let header = try? MemcacheUDPFrameHeader.read(from: &input), header.total == 1
        else { return }
        self.replies.clear()
        let answered = self.run(&input)
        self.loopCounters.answered(answered)
        guard self.replies.readableBytes > 0 else { return }
        let parts: [ByteBuffer]
        do {
            parts = try self.frame(self.replies, requestID: header.requestID)
        } catch {
            let message = (error as? MemcacheError)?.message ?? "\(error)"
            guard
                let framed = try? self.frame(
                    ByteBuffer(string: "SERVER_ERROR \(message)\r\n"), requestID: header.requestID)
            else { return } // never: a line of a hundred bytes fits in far fewer datagrams
            parts = framed
        }
        for part in parts {
            context.write(
                PipelineMessage(AddressedEnvelope(remoteAddress: datagram.remoteAddress, data: part)), promise: nil)
        }
    }

    private func frame(_ payload: ByteBuffer, requestID: UInt16) throws -> [ByteBuffer] {
        try MemcacheUDPFrameHeader.datagrams(
            requestID: requestID, payload: payload, maximumDatagramSize: self.maximumDatagramSize)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // The replies of every datagram this read took leave in one sendmmsg.
        context.flush()
    }

    /// Runs every request of one datagram, its replies into `replies`; returns how many ran.
    private func run(_ input: inout ByteBuffer) -> Int {
        var decoder = MemcacheRequestDecoder(
            maximumLineLength: self.maximumLineLength, maximumValueLength: self.processor.store.maximumValueLength)
        let now = self.processor.store.clock()
        var answered = 0
        while input.readableBytes > 0 {
            if let taken = input.withUnsafeReadableBytes({
                self.processor.processFast($0, now: now, into: &self.replies)
            }) {
                input.moveReaderIndex(forwardBy: taken)
            } else {
                do {
                    guard let request = try decoder.decode(buffer: &input) else {
                        self.replies.writeString(
                            "CLIENT_ERROR incomplete request: a UDP request fits in one datagram\r\n")
                        return answered
                    }
                    // `quit` has no connection to close over UDP: it ends this datagram only.
                    if self.processor.process(request, into: &self.replies) == .close { return answered + 1 }
                } catch {
                    let message = (error as? MemcacheError)?.message ?? "\(error)"
                    self.replies.writeString("CLIENT_ERROR \(message)\r\n")
                    return answered
                }
            }
            answered += 1
        }
        return answered
    }
}
