import Channels
import Codecs

/// The loop side of a `MemcacheUDPClient`: numbers each request, sends it as one datagram,
/// puts each reply back together by its request ID and completes the caller.
///
/// Loop-confined: every method runs on the channel's loop (the timers' closures too).
final class MemcacheUDPClientHandler: ChannelInboundHandler, @unchecked Sendable { // SAFETY: see above
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    /// The longest request one datagram carries (65,507 UDP bytes over IPv4, less the header).
    static let maximumRequestBytes = 65_507 - MemcacheUDPFrameHeader.size

    private struct Pending {
        let call: MemcacheCall
        var assembler: MemcacheUDPReplyAssembler
        var stream = ByteBuffer()
        var decoder: MemcacheResponseDecoder
        var timeout: Scheduled<Void>?
    }

    private let responseTimeout: TimeAmount
    private let maximumReplyBytes: Int
    private var context: ChannelHandlerContext?
    private var pending: [UInt16: Pending] = [:]
    private var nextID = UInt16.random(in: .min ... .max)
    private var failure: MemcacheError?
    /// Datagrams that were not a reply to a request in flight: malformed, or late (their
    /// request timed out).
    private(set) var ignoredDatagrams = 0

    init(responseTimeout: TimeAmount, maximumReplyBytes: Int) {
        self.responseTimeout = responseTimeout
        self.maximumReplyBytes = maximumReplyBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.failAll(MemcacheError(.connectionClosed, "the UDP client closed"))
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(MemcacheError(.connectionClosed, "the UDP client closed"))
        context.fireChannelInactive()
    }

    /// Sends `request` in one datagram; `call` finishes with its reply, a timeout or an error.
    func send(_ request: MemcacheRequest, call: MemcacheCall) {
        guard let context, self.failure == nil else {
            call.finish(.failure(self.failure ?? MemcacheError(.connectionClosed, "the UDP client closed")))
            return
        }
        switch request {
        case .metaBatch:
            call.finish(.failure(MemcacheError(.unsupportedCommand, "quiet batches need a stream: use TCP")))
            return
        case .meta(let meta) where meta.isQuiet:
            call.finish(.failure(MemcacheError(.unsupportedCommand, "quiet meta commands need a stream: use TCP")))
            return
        default: break
        }
        guard self.pending.count <= Int(UInt16.max) else {
            call.finish(.failure(MemcacheError(.poolExhausted, "65,536 UDP requests are in flight")))
            return
        }
        while self.pending[self.nextID] != nil { self.nextID &+= 1 }
        let id = self.nextID
        self.nextID &+= 1
        var datagram = ByteBuffer()
        MemcacheUDPFrameHeader(requestID: id).write(into: &datagram)
        do {
            try MemcacheRequestEncoder().encode(request, into: &datagram)
        } catch {
            call.finish(.failure(error))
            return
        }
        guard datagram.readableBytes - MemcacheUDPFrameHeader.size <= Self.maximumRequestBytes else {
            call.finish(
                .failure(
                    MemcacheError(
                        .valueTooLarge,
                        "a UDP request is one datagram of at most \(Self.maximumRequestBytes) bytes; this one has \(datagram.readableBytes - MemcacheUDPFrameHeader.size)"
                    )))
            return
        }
        if request.expectsNoReply {
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { result in
                call.finish(result.map { .ok }.mapError { MemcacheError(.connectionClosed, "not sent", cause: $0) })
            }
            context.write(PipelineMessage(datagram), promise: written)
        } else {
            let timeout = context.eventLoop.scheduleTask(in: self.responseTimeout) { [self] in
                self.timedOut(id)
            }
            self.pending[id] = Pending(
                call: call, assembler: MemcacheUDPReplyAssembler(maximumBytes: self.maximumReplyBytes),
                decoder: MemcacheResponseDecoder(maximumValueLength: self.maximumReplyBytes), timeout: timeout)
            context.write(PipelineMessage(datagram), promise: nil)
        }
        // Every request of this turn leaves in one sendmmsg.
        context.flushAtEndOfTurn()
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        var payload = self.unwrapInboundIn(data).data
        guard let header = try? MemcacheUDPFrameHeader.read(from: &payload),
            var request = self.pending[header.requestID]
        else {
            self.ignoredDatagrams += 1
            return
        }
        do {
            try request.assembler.add(header, payload: payload, into: &request.stream)
            if !request.assembler.isCollectingMessage,
                let response = try request.decoder.decode(buffer: &request.stream)
            {
                self.finish(header.requestID, .success(response))
                return
            }
        } catch {
            self.finish(header.requestID, .failure(error))
            return
        }
        self.pending[header.requestID] = request
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // An ICMP report on the connected socket: nobody serves the port (any more). Every
        // request in flight went there; the socket itself stays usable for the next ones.
        let failure = MemcacheError(.connectFailed, "the memcached UDP port refused datagrams", cause: error)
        for id in Array(self.pending.keys) { self.finish(id, .failure(failure)) }
    }

    private func timedOut(_ id: UInt16) {
        guard self.pending[id] != nil else { return }
        self.pending[id]?.timeout = nil
        self.finish(
            id,
            .failure(
                MemcacheError(
                    .timeout, "no whole reply within \(self.responseTimeout) (a datagram of it may have been lost)")))
    }

    private func finish(_ id: UInt16, _ result: Result<MemcacheResponse, any Error>) {
        guard let request = self.pending.removeValue(forKey: id) else { return }
        request.timeout?.cancel()
        request.call.finish(result)
    }

    private func failAll(_ error: MemcacheError) {
        if self.failure == nil { self.failure = error }
        for id in Array(self.pending.keys) { self.finish(id, .failure(error)) }
    }
}
