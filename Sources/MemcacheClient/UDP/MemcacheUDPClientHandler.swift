import Channels
import Codecs
import DequeModule

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
        let deadline: Deadline
    }

    private let responseTimeout: TimeAmount
    private let maximumReplyBytes: Int
    private var context: ChannelHandlerContext?
    private var pending: [UInt16: Pending] = [:]
    /// Requests in the order they were sent, which is their deadlines' order (one timeout
    /// for all): one timer for the oldest, not one per request. Finished requests leave the
    /// front as they finish, or when the timer passes them.
    private var order = Deque<(id: UInt16, deadline: Deadline)>()
    private var sweep: Scheduled<Void>?
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
            let deadline = Deadline.now() + self.responseTimeout
            self.pending[id] = Pending(
                call: call, assembler: MemcacheUDPReplyAssembler(maximumBytes: self.maximumReplyBytes),
                decoder: MemcacheResponseDecoder(maximumValueLength: self.maximumReplyBytes), deadline: deadline)
            self.order.append((id, deadline))
            if self.sweep == nil { self.armSweep(at: deadline, context: context) }
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

    private func armSweep(at deadline: Deadline, context: ChannelHandlerContext) {
        self.sweep = context.eventLoop.scheduleTask(deadline: deadline) { [self] in
            self.sweep = nil
            self.expire()
        }
    }

    /// Times out every request past its deadline; arms the timer for the next one.
    private func expire() {
        let now = Deadline.now()
        while let first = self.order.first {
            guard self.pending[first.id]?.deadline == first.deadline else {
                self.order.removeFirst() // finished already
                continue
            }
            guard first.deadline <= now else { break }
            self.order.removeFirst()
            self.finish(
                first.id,
                .failure(
                    MemcacheError(
                        .timeout, "no whole reply within \(self.responseTimeout) (a datagram of it may have been lost)")
                ))
        }
        if let first = self.order.first, let context = self.context {
            self.armSweep(at: first.deadline, context: context)
        }
    }

    private func finish(_ id: UInt16, _ result: Result<MemcacheResponse, any Error>) {
        guard let request = self.pending.removeValue(forKey: id) else { return }
        // Replies mostly come in order: the finished requests at the front leave now, so the
        // queue holds about what is in flight. (An idle client's timer fires once, finds
        // nothing and is not armed again.)
        while let first = self.order.first, self.pending[first.id]?.deadline != first.deadline {
            self.order.removeFirst()
        }
        request.call.finish(result)
    }

    private func failAll(_ error: MemcacheError) {
        if self.failure == nil { self.failure = error }
        for id in Array(self.pending.keys) { self.finish(id, .failure(error)) }
    }
}
