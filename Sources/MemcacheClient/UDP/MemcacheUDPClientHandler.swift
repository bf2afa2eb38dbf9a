import Channels
import Codecs
import DequeModule

/// The loop side of a `MemcacheUDPClient`: numbers each request, sends it as one datagram,
/// puts each reply back together by its request ID and completes the caller.
///
/// At most `maximumInFlight` requests await replies at once; later ones wait here, in order,
/// and leave as replies come. Without that window a burst of callers has more replies
/// arriving together than the socket's receive buffer holds (about 200 replies of 500 B in the
/// kernel's default 208 KiB), and the kernel drops the rest: those calls would time out though
/// the server answered them all. A request's timeout counts from its call, waiting included.
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

    /// A request waiting for room in the window: its datagram is ready but for the request ID.
    private struct Waiting {
        var datagram: ByteBuffer
        let call: MemcacheCall
        let deadline: Deadline
        let expectsReply: Bool
    }

    private let responseTimeout: TimeAmount
    private let maximumReplyBytes: Int
    private let maximumInFlight: Int
    private var waiting = Deque<Waiting>()
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

    init(responseTimeout: TimeAmount, maximumReplyBytes: Int, maximumInFlight: Int) {
        self.responseTimeout = responseTimeout
        self.maximumReplyBytes = maximumReplyBytes
        // Never above the request IDs there are.
        self.maximumInFlight = min(max(1, maximumInFlight), Int(UInt16.max))
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
        var datagram = ByteBuffer()
        // The request ID is written when the datagram leaves (`transmit`).
        MemcacheUDPFrameHeader(requestID: 0).write(into: &datagram)
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
        let outgoing = Waiting(
            datagram: datagram, call: call, deadline: Deadline.now() + self.responseTimeout,
            expectsReply: !request.expectsNoReply)
        // In order: a request (even one without a reply) never overtakes one still waiting.
        if self.waiting.isEmpty, !outgoing.expectsReply || self.pending.count < self.maximumInFlight {
            self.transmit(outgoing, context: context)
        } else {
            self.waiting.append(outgoing)
        }
    }

    /// Numbers the datagram and sends it; a request with a reply joins those in flight.
    private func transmit(_ outgoing: Waiting, context: ChannelHandlerContext) {
        var datagram = outgoing.datagram
        let call = outgoing.call
        if !outgoing.expectsReply {
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { result in
                call.finish(result.map { .ok }.mapError { MemcacheError(.connectionClosed, "not sent", cause: $0) })
            }
            context.write(PipelineMessage(datagram), promise: written)
        } else {
            while self.pending[self.nextID] != nil { self.nextID &+= 1 }
            let id = self.nextID
            self.nextID &+= 1
            // The header's first field.
            datagram.setInteger(id, at: datagram.readerIndex)
            self.pending[id] = Pending(
                call: call, assembler: MemcacheUDPReplyAssembler(maximumBytes: self.maximumReplyBytes),
                decoder: MemcacheResponseDecoder(maximumValueLength: self.maximumReplyBytes),
                deadline: outgoing.deadline)
            self.order.append((id, outgoing.deadline))
            // The oldest in flight first: while the timer itself sends, older ones remain.
            if self.sweep == nil, let first = self.order.first { self.armSweep(at: first.deadline, context: context) }
            context.write(PipelineMessage(datagram), promise: nil)
        }
        // Every request of this turn leaves in one sendmmsg.
        context.flushAtEndOfTurn()
    }

    /// Sends waiting requests while the window has room; those whose time ran out while they
    /// waited fail without being sent.
    private func sendWaiting() {
        guard !self.waiting.isEmpty else { return }
        guard let context, self.failure == nil else {
            let failure = self.failure ?? MemcacheError(.connectionClosed, "the UDP client closed")
            while let next = self.waiting.popFirst() { next.call.finish(.failure(failure)) }
            return
        }
        var now: Deadline?
        while let next = self.waiting.first, !next.expectsReply || self.pending.count < self.maximumInFlight {
            self.waiting.removeFirst()
            let current = now ?? Deadline.now()
            now = current
            guard next.deadline > current else {
                next.call.finish(.failure(self.timeoutError(waited: true)))
                continue
            }
            self.transmit(next, context: context)
        }
    }

    private func timeoutError(waited: Bool) -> MemcacheError {
        waited
            ? MemcacheError(
                .timeout,
                "not sent within \(self.responseTimeout): every one of the \(self.maximumInFlight) requests allowed in flight was waiting for its reply"
            )
            : MemcacheError(
                .timeout, "no whole reply within \(self.responseTimeout) (a datagram of it may have been lost)")
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
            self.finish(first.id, .failure(self.timeoutError(waited: false)))
        }
        if self.sweep == nil, let first = self.order.first, let context = self.context {
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
        self.sendWaiting()
        request.call.finish(result)
    }

    private func failAll(_ error: MemcacheError) {
        if self.failure == nil { self.failure = error }
        for id in Array(self.pending.keys) { self.finish(id, .failure(error)) }
        self.sendWaiting() // fails them all, now that `failure` is set
    }
}
