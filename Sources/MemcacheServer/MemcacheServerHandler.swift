import Channels
import Codecs
import Logging

/// A server connection's one handler: reads requests straight from the socket's bytes,
/// runs them, and sends the replies of a read burst in one write.
///
/// Loop-confined. The requests a busy server mostly sees (get, gets, plain mg, set) are
/// answered in place (`CommandProcessor.processFast`); the rest go through
/// `MemcacheRequestDecoder` on the same bytes. Only a request cut off at the end of a read is
/// copied, to wait for its rest; the read buffer itself goes back to the loop. Replies are
/// written into a buffer borrowed from the loop and sent when the burst ends (or earlier
/// once they pass 64 KiB, so a long pipeline of large gets does not pile up); once written,
/// the buffer goes back to the loop, so an idle connection holds neither a read nor a
/// reply buffer. When the peer stops reading and the channel's write buffer passes its
/// high watermark, the handler stops running requests and stops reading (as memcached does):
/// a client that sends gets and never takes the replies cannot make the server buffer
/// without bound; what it sent waits, unrun, until it reads again. A request left
/// incomplete for `incompleteRequestTimeout` (a client trickling bytes) closes the connection.
///
/// Draining (a graceful shutdown): what was read has been answered by then (requests run as
/// they are read; not those a peer that stopped taking replies left waiting), so the handler
/// sends what is pending, ignores anything read later and closes its output; the connection
/// closes when the peer closes its side (or the server's deadline passes). Closing the whole
/// socket at once could reset it while replies are still in the kernel's send queue, losing
/// them.
final class MemcacheServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// What every connection of one loop shares: the server's store, counters and limits.
    ///
    /// Thread-safe (immutable; its parts are). One per loop rather than copied into every
    /// handler: a server holds thousands of idle connections (the limits and the
    /// authenticator were 40 of the handler's 288 bytes).
    final class Settings: Sendable {
        let processor: CommandProcessor
        let connections: LoopConnections
        let loopCounters: ServerCounters.Loop
        let maximumConnections: Int
        let maximumLineLength: Int
        /// The most bytes held while waiting for the rest of a request: the largest value and
        /// its line.
        let maximumBufferedBytes: Int
        /// How a drain ends a connection's output: `.output` (a TCP half-close) for plain
        /// connections, `.all` under TLS, whose handler sends close_notify and waits for the
        /// peer's before closing.
        let drainCloseMode: CloseMode
        let incompleteRequestTimeout: TimeAmount?
        /// Who may use the server; nil when anyone may.
        let authenticator: MemcacheAuthenticator?

        init(
            store: ItemStore, counters: ServerCounters, loopIndex: Int, connections: LoopConnections,
            maximumConnections: Int, maximumLineLength: Int, drainCloseMode: CloseMode,
            incompleteRequestTimeout: TimeAmount? = nil, authenticator: MemcacheAuthenticator? = nil
        ) {
            self.processor = CommandProcessor(store: store, counters: counters)
            self.connections = connections
            self.loopCounters = counters.loop(loopIndex)
            self.maximumConnections = maximumConnections
            self.maximumLineLength = maximumLineLength
            self.maximumBufferedBytes = store.maximumValueLength + maximumLineLength + 2
            self.drainCloseMode = drainCloseMode
            self.incompleteRequestTimeout = incompleteRequestTimeout
            self.authenticator = authenticator
        }
    }

    private let settings: Settings
    // What every read burst uses, held directly: read through `settings` (an object two
    // loads away) each cost a retain and release per burst, counted with a uprobe.
    private let processor: CommandProcessor
    private let connections: LoopConnections
    private let loopCounters: ServerCounters.Loop
    private var decoder: MemcacheRequestDecoder
    private var maximumConnections: Int { self.settings.maximumConnections }
    private var maximumBufferedBytes: Int { self.settings.maximumBufferedBytes }
    private var drainCloseMode: CloseMode { self.settings.drainCloseMode }
    private var authenticator: MemcacheAuthenticator? { self.settings.authenticator }
    /// The start of a request whose end has not arrived yet; while paused, every request
    /// read and not yet run.
    private var partial = ByteBuffer()
    /// Serving, paused, closing; counted or not; the incomplete-request clock.
    private var state: ServerConnectionState
    /// Requests answered since the counters were last updated. 32 bits, in the 4 bytes
    /// `state` leaves before the next 8-byte field.
    private var commandsInBurst: UInt32 = 0
    /// The timer `state` asked for, checking an incomplete request.
    private var incompleteTimer: Scheduled<Void>?
    private var replies = ByteBuffer()
    private var context: ChannelHandlerContext?
    /// The authentication exchange, until it succeeds (nil from then on, and from the start
    /// when the server asks for none).
    private var authentication: AuthenticationExchange?
    /// This connection in `stats conns`.
    private var record: ConnectionRecord?

    static let earlyFlushBytes = 64 << 10

    init(settings: Settings) {
        self.settings = settings
        self.processor = settings.processor
        self.connections = settings.connections
        self.loopCounters = settings.loopCounters
        self.authentication = settings.authenticator == nil ? nil : AuthenticationExchange()
        self.state = ServerConnectionState(incompleteRequestTimeout: settings.incompleteRequestTimeout)
        self.decoder = MemcacheRequestDecoder(
            maximumLineLength: settings.maximumLineLength,
            maximumValueLength: settings.processor.store.maximumValueLength)
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        self.connections.add(self)
        self.loopCounters.connectionOpened()
        self.record = self.processor.counters.connectionOpened(
            peer: context.channel.remoteAddress, now: self.processor.store.clock())
        let activation = self.state.activated(
            draining: self.connections.draining,
            overLimit: self.processor.counters.currentConnections > self.maximumConnections)
        switch activation {
        case .serve:
            break
        case .close:
            context.close(promise: nil)
        case .refuseTooMany:
            // What memcached answers past its -c limit, before it closes.
            self.connections.logger.debug(
                "connection refused: too many open connections",
                metadata: [
                    "peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")",
                    "limit": "\(self.maximumConnections)",
                ])
            context.writeAndFlush(
                PipelineMessage(ByteBuffer(string: "SERVER_ERROR Too many open connections\r\n")), promise: nil)
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.countCommands()
        if let record = self.record { self.processor.counters.connectionClosed(record) }
        self.record = nil
        if self.state.deactivated() {
            self.connections.remove(self)
            self.loopCounters.connectionClosed()
        }
        self.partial = ByteBuffer()
        self.incompleteTimer?.cancel()
        self.incompleteTimer = nil
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        guard self.state.readsInput else { return }
        var input = self.unwrapInboundIn(data)
        if self.partial.readableBytes > 0 {
            // Moved out while it is worked on, so no other access to the property overlaps.
            var joined = ByteBuffer()
            swap(&joined, &self.partial)
            joined.writeBuffer(&input)
            input = joined
        }
        // Paused, what arrives waits with the rest (reads stop, so it is at most what the
        // socket's read loop had already taken).
        if self.state.runsRequests {
            let answered = self.commandsInBurst
            self.run(&input, context: context)
            // A request completed: the clock on incomplete ones starts again.
            if self.commandsInBurst != answered { self.state.stopIncompleteClock() }
        }
        self.keepUnrun(&input, context: context)
    }

    /// Keeps what `run` left in `input` (an incomplete request, or requests held while paused).
    private func keepUnrun(_ input: inout ByteBuffer, context: ChannelHandlerContext) {
        guard self.state.readsInput, input.readableBytes > 0 else {
            self.state.stopIncompleteClock()
            return
        }
        if self.state.runsRequests {
            if input.readableBytes > self.maximumBufferedBytes {
                self.fail(
                    MemcacheError(.protocolViolation, "\(input.readableBytes) bytes without a complete request"),
                    context: context)
                return
            }
            self.watchIncompleteRequest(context: context)
        }
        // A copy of just what is left: the read buffer goes back to the loop.
        var rest = ByteBuffer(capacity: max(input.readableBytes, 1024))
        rest.writeBuffer(&input)
        self.partial = rest
    }

    /// Starts the clock on an incomplete request (once per request: a client trickling its
    /// bytes does not restart it).
    private func watchIncompleteRequest(context: ChannelHandlerContext) {
        guard let deadline = self.state.leftIncomplete(now: context.eventLoop.now) else { return }
        self.armIncompleteTimer(deadline, context: context)
    }

    private func armIncompleteTimer(_ deadline: Deadline, context: ChannelHandlerContext) {
        let handler = LoopBound(self, eventLoop: context.eventLoop)
        self.incompleteTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            handler.value.incompleteTimerFired()
        }
    }

    private func incompleteTimerFired() {
        self.incompleteTimer = nil
        guard let context = self.context else { return }
        switch self.state.incompleteTimerFired(now: context.eventLoop.now) {
        case .none:
            break
        case .rearm(let deadline):
            self.armIncompleteTimer(deadline, context: context)
        case .close:
            let timeout = self.state.incompleteRequestTimeout ?? .zero
            self.fail(MemcacheError(.protocolViolation, "a request stayed incomplete for \(timeout)"), context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.sendReplies(context: context)
        self.countCommands()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        switch self.state.writabilityChanged(isWritable: context.channel.isWritable) {
        case .ignore:
            break
        case .resume:
            self.resume(context: context)
            // Running what waited may have filled the channel again (and paused once more).
            _ = context.channel.setOption(.autoRead, value: context.channel.isWritable && self.state.runsRequests)
        case .setAutoRead(let on):
            _ = context.channel.setOption(.autoRead, value: on)
        }
        context.fireChannelWritabilityChanged()
    }

    /// The peer takes replies again: run the requests that waited.
    private func resume(context: ChannelHandlerContext) {
        self.record?.set(.waiting)
        var input = ByteBuffer()
        swap(&input, &self.partial)
        self.run(&input, context: context)
        self.keepUnrun(&input, context: context)
        self.sendReplies(context: context)
        self.countCommands()
    }

    /// Stops running requests until the peer takes its replies (see the type's comment).
    private func pause(context: ChannelHandlerContext) {
        self.state.pause()
        self.record?.set(.writing)
        _ = context.channel.setOption(.autoRead, value: false)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A socket or TLS failure: the handler that saw it closes the channel; there is no
        // one to answer. Per connection, so debug: a scanner must not flood the log.
        self.connections.logger.debug(
            "connection failed",
            metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")", "error": "\(error)"])
    }

    /// Runs every complete request in `input`, leaving an unfinished one there.
    private func run(_ input: inout ByteBuffer, context: ChannelHandlerContext) {
        guard context.channel.isWritable else {
            self.pause(context: context)
            return
        }
        var replies = self.takeReplyBuffer()
        defer { self.replies = replies }
        let now = self.processor.store.clock()
        self.record?.requested(at: now)
        while !self.state.isClosing, input.readableBytes > 0 {
            if self.authentication != nil {
                guard self.authenticate(&input, into: &replies, context: context) else { return }
                continue
            }
            if !self.decoder.isDroppingValue,
                let taken = input.withUnsafeReadableBytes({ self.processor.processFast($0, now: now, into: &replies) })
            {
                input.moveReaderIndex(forwardBy: taken)
            } else {
                let request: MemcacheServerInput
                do {
                    guard let decoded = try self.decoder.decode(buffer: &input) else { return }
                    request = decoded
                } catch {
                    self.replies = replies
                    replies = ByteBuffer()
                    self.fail(error, context: context)
                    return
                }
                if self.processor.process(request, into: &replies) == .close {
                    _ = self.beginClosing()
                    self.commandsInBurst += 1
                    self.replies = replies
                    replies = ByteBuffer()
                    self.sendReplies(context: context)
                    context.close(promise: nil)
                    return
                }
            }
            self.commandsInBurst += 1
            if replies.readableBytes >= Self.earlyFlushBytes {
                self.replies = replies
                self.sendReplies(context: context)
                replies = self.takeReplyBuffer()
                if !context.channel.isWritable {
                    self.pause(context: context)
                    return
                }
            }
        }
    }

    /// Reads what `input` holds before the connection has authenticated, answering as
    /// memcached does; false when it needs more bytes (or closed the connection).
    private func authenticate(
        _ input: inout ByteBuffer, into replies: inout ByteBuffer, context: ChannelHandlerContext
    ) -> Bool {
        guard var exchange = self.authentication, let authenticator = self.authenticator else { return true }
        let step = input.withUnsafeReadableBytes { bytes in
            exchange.step(bytes) { authenticator.accepts(username: $0, password: $1) }
        }
        self.authentication = exchange
        switch step {
        case .needMore:
            return false
        case .readLine(let consumed):
            input.moveReaderIndex(forwardBy: consumed)
        case .reply(let line, let consumed):
            input.moveReaderIndex(forwardBy: consumed)
            replies.writeString(line)
            replies.writeString("\r\n")
            self.commandsInBurst += 1
        case .refused(let consumed):
            input.moveReaderIndex(forwardBy: consumed)
            replies.writeString("CLIENT_ERROR authentication failure\r\n")
            self.processor.counters.authenticationFailed()
            // Per connection, so debug; the user name is not logged either (a mistyped
            // password is sometimes typed into it).
            self.connections.logger.debug(
                "authentication failed", metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")"])
            self.commandsInBurst += 1
        case .authenticated(let consumed):
            input.moveReaderIndex(forwardBy: consumed)
            replies.writeString("STORED\r\n")
            self.processor.counters.authenticationSucceeded()
            self.authentication = nil
            self.commandsInBurst += 1
        case .close:
            _ = self.beginClosing()
            self.partial = ByteBuffer()
            self.replies = replies
            replies = ByteBuffer()
            self.sendReplies(context: context)
            context.close(promise: nil)
            return false
        }
        return true
    }

    /// The connection cannot go on (a line without end, a broken data block): say why, as
    /// memcached does, then close.
    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        _ = self.beginClosing()
        self.partial = ByteBuffer()
        self.incompleteTimer?.cancel()
        self.incompleteTimer = nil
        let message = (error as? MemcacheError)?.message ?? "\(error)"
        self.connections.logger.debug(
            "closing a connection that cannot be resynchronised", metadata: ["error": "\(message)"])
        self.replies.writeString("CLIENT_ERROR \(message)\r\n")
        self.sendReplies(context: context)
        context.close(promise: nil)
    }

    /// Starts this connection's part of a graceful shutdown; returns when it will have
    /// closed, or nil when it already has.
    func drain() -> EventLoopFuture<Void>? {
        guard let context = self.context else { return nil }
        let closed = context.channel.closeFuture
        guard self.beginClosing() else { return closed }
        self.incompleteTimer?.cancel()
        self.incompleteTimer = nil
        self.partial = ByteBuffer()
        self.sendReplies(context: context)
        self.countCommands()
        // Read on (and discard) until the peer closes: its end of file is what closes us.
        _ = context.channel.setOption(.autoRead, value: true)
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: self.drainCloseMode, promise: promise)
        let channel = context.channel
        promise.futureResult.whenFailure { _ in _ = channel.close() }
        return closed
    }

    /// Closes the connection now, whatever it was doing.
    func closeNow() {
        _ = self.beginClosing()
        self.incompleteTimer?.cancel()
        self.incompleteTimer = nil
        self.context?.close(promise: nil)
    }

    /// Starts closing (false when it already was); `stats conns` says so.
    private func beginClosing() -> Bool {
        self.record?.set(.closing)
        return self.state.startClosing()
    }

    /// This connection's reply buffer if it has one, else the loop's spare.
    private func takeReplyBuffer() -> ByteBuffer {
        var buffer = ByteBuffer()
        swap(&buffer, &self.replies)
        if buffer.capacity == 0 { buffer = self.connections.takeSpareReplies() }
        return buffer
    }

    private func sendReplies(context: ChannelHandlerContext) {
        guard self.replies.readableBytes > 0 else { return }
        var sent = ByteBuffer()
        swap(&sent, &self.replies)
        context.writeAndFlush(PipelineMessage(sent), promise: nil)
        // Written to the socket at once (the usual case): nobody else holds it, so the loop
        // can lend it to the next connection.
        self.connections.giveBackReplies(&sent)
    }

    private func countCommands() {
        guard self.commandsInBurst > 0 else { return }
        self.loopCounters.answered(Int(self.commandsInBurst))
        self.commandsInBurst = 0
    }
}
