/// TLS for any pipeline: ciphertext below, plaintext above.
///
/// Loop-confined. The handshake starts when the channel becomes active (or at once, when the
/// handler is added to an active channel: a STARTTLS-style upgrade). Plaintext written before
/// the handshake completes is held — never sent in clear — up to
/// `maximumBufferedPlaintext`. Writes are encrypted when flushed, and a large flush leaves in
/// pieces as they are encrypted, so the peer decrypts one piece while we encrypt the next.
/// On success the handler fires `TLSEvent.handshakeCompleted(negotiatedALPN:)`; on failure
/// it reports a `TLSError` (`errorCaught`) and closes. `close` sends close_notify and waits (up to `closeTimeout`)
/// for the peer's; a peer that closes without one is reported as `TLSError.uncleanShutdown`.
///
/// ```swift
/// let context = try TLSContext(configuration: .client(trustRoots: .file("ca.pem")))
/// try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: context, serverHostname: "localhost"), position: .first)
/// ```
// SAFETY: loop-confined; scheduled closures run on its loop
public final class TLSHandler: ChannelDuplexHandler, @unchecked Sendable { // SAFETY: see above
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case idle, handshaking, active, closing, closed
    }

    private let connection: TLSConnection
    private let configuration: TLSConfiguration
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// Plaintext written and not yet encrypted: before the handshake completes, or since the
    /// last flush.
    private var pending: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var pendingBytes = 0
    /// A flush came while the handshake ran: the pending writes go out when it completes.
    private var flushAfterHandshake = false
    private var timer: Scheduled<Void>?
    private var closePromises: [EventLoopPromise<Void>?] = []
    private var peerClosed = false

    /// - Parameters:
    ///   - context: the shared TLS context (client or server).
    ///   - serverHostname: for clients, the host name or IP the server's certificate must
    ///     match; required unless verification is relaxed.
    /// - Throws: `TLSError.invalidConfiguration`.
    public init(context: TLSContext, serverHostname: String? = nil) throws {
        self.connection = try TLSConnection(context: context, serverHostname: serverHostname)
        self.configuration = context.configuration
    }

    /// Whether the handshake resumed an earlier session (clients: see
    /// `TLSConfiguration.resumesSessions`). Read it on the loop, after `handshakeCompleted`.
    public var isSessionReused: Bool { self.connection.isSessionReused }

    /// The cipher suite in use, by its standard (IANA) name, e.g. `TLS_AES_128_GCM_SHA256`;
    /// nil before the handshake completed. Read it on the loop.
    public var cipherSuite: String? { self.connection.cipherSuite }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.beginHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.failPending(ChannelError(.ioOnClosedChannel, "the TLS handler was removed"))
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.beginHandshake(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        let previous = self.state
        self.state = .closed
        self.failPending(ChannelError(.ioOnClosedChannel, "the connection closed before these writes were encrypted"))
        if previous == .handshaking {
            context.fireErrorCaught(TLSError(.handshakeFailed, "the peer closed the connection during the handshake"))
        } else if previous == .active, !self.peerClosed {
            context.fireErrorCaught(TLSError(.uncleanShutdown, "the peer closed the connection without a close_notify"))
        }
        let promises = self.closePromises
        self.closePromises = []
        for promise in promises { promise?.succeed(()) }
        context.fireChannelInactive()
    }

    private func beginHandshake(context: ChannelHandlerContext) {
        guard self.state == .idle else { return }
        self.state = .handshaking
        let timeout = self.configuration.handshakeTimeout
        self.timer = context.eventLoop.scheduleTask(in: timeout) { [self] in
            guard self.state == .handshaking, let context = self.context else { return }
            self.fail(TLSError(.handshakeTimeout, "no handshake within \(timeout)"), context: context)
        }
        self.stepHandshake(context: context)
    }

    private func stepHandshake(context: ChannelHandlerContext) {
        let step = self.connection.handshake()
        self.sendOutput(context: context, promise: nil, flush: true)
        switch step {
        case .wantRead:
            return
        case .failed(let error):
            self.fail(error, context: context)
        case .complete:
            self.state = .active
            self.timer?.cancel()
            self.timer = nil
            context.fireUserInboundEventTriggered(
                TLSEvent.handshakeCompleted(negotiatedALPN: self.connection.negotiatedALPN))
            if self.flushAfterHandshake, self.state == .active {
                self.flushAfterHandshake = false
                self.encryptPending(context: context)
                context.flush()
            }
        }
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.connection.feed(self.unwrapInboundIn(data))
        if self.state == .handshaking {
            self.stepHandshake(context: context)
        }
        if self.state == .active || self.state == .closing {
            self.readPlaintext(context: context)
        }
        self.connection.finishInput()
    }

    private func readPlaintext(context: ChannelHandlerContext) {
        reading: while true {
            switch self.connection.read() {
            case .data(let plaintext):
                context.fireChannelRead(self.wrapInboundOut(plaintext))
            case .wantRead:
                break reading
            case .closed:
                self.peerClosed = true
                self.peerSentCloseNotify(context: context)
                break reading
            case .failed(let error):
                self.fail(error, context: context)
                return
            }
        }
        // Reading can produce records to send (TLS 1.3 tickets, key updates, alerts); most
        // reads make none, and then there is nothing to flush (a flush through the pipeline
        // and the channel per read of records).
        if let ciphertext = self.connection.takeOutput() {
            context.write(self.wrapOutboundOut(ciphertext), promise: nil)
            context.flush()
        }
    }

    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        if self.state == .active {
            self.connection.shutdown() // answer with ours
        }
        self.sendOutput(context: context, promise: nil, flush: true)
        self.state = .closed
        self.timer?.cancel()
        context.fireUserInboundEventTriggered(TLSEvent.shutdownCompleted)
        context.close(promise: nil)
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        let plaintext = self.unwrapOutboundIn(data)
        switch self.state {
        case .idle, .handshaking:
            guard self.pendingBytes + plaintext.readableBytes <= self.configuration.maximumBufferedPlaintext else {
                promise?.fail(
                    TLSError(
                        .bufferLimitExceeded,
                        "more than \(self.configuration.maximumBufferedPlaintext) bytes written before the handshake completed"
                    ))
                return
            }
            self.pendingBytes += plaintext.readableBytes
            self.pending.append((plaintext, promise))
        case .active:
            self.pendingBytes += plaintext.readableBytes
            self.pending.append((plaintext, promise))
        case .closing, .closed:
            promise?.fail(ChannelError(.outputClosed, "the TLS connection is closing"))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        if self.state == .active {
            self.encryptPending(context: context)
            context.flush()
        } else {
            self.flushAfterHandshake = true
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, self.state == .active else {
            context.close(mode: mode, promise: promise)
            return
        }
        // Written before the close: encrypted ahead of our close_notify, and sent with it.
        self.encryptPending(context: context)
        guard self.state == .active else {
            context.close(mode: mode, promise: promise)
            return
        }
        self.state = .closing
        self.closePromises.append(promise)
        self.connection.shutdown()
        self.sendOutput(context: context, promise: nil, flush: true)
        let timeout = self.configuration.closeTimeout
        self.timer = context.eventLoop.scheduleTask(in: timeout) { [self] in
            guard self.state == .closing, let context = self.context else { return }
            context.close(promise: nil) // the peer never answered our close_notify
        }
    }

    /// Encrypts the pending writes, each into its own records, and writes the ciphertext
    /// down the pipeline (the caller flushes). The pieces of a write larger than
    /// `TLSConnection.writeChunk` are flushed as they are made — this runs only for a flush —
    /// and its promise rides on the last piece.
    private func encryptPending(context: ChannelHandlerContext) {
        guard !self.pending.isEmpty else { return }
        // Swapped out, not copied, so that the array's storage serves the next flush too.
        var writes: [(ByteBuffer, EventLoopPromise<Void>?)] = []
        swap(&writes, &self.pending)
        self.pendingBytes = 0
        defer {
            // Writes issued while these were encrypted (from a promise's callback) stay queued.
            if self.pending.isEmpty {
                writes.removeAll(keepingCapacity: true)
                self.pending = writes
            }
        }
        for (index, (plaintext, promise)) in writes.enumerated() {
            guard self.state == .active else {
                // The connection failed on the way (a write error): the rest cannot be sent.
                let error = ChannelError(
                    .ioOnClosedChannel, "the TLS connection closed before this write was encrypted")
                for (_, promise) in writes[index...] { promise?.fail(error) }
                return
            }
            let failure = self.connection.write(plaintext) { piece in
                context.write(self.wrapOutboundOut(piece), promise: nil)
                context.flush()
            }
            if let failure {
                promise?.fail(failure)
                self.fail(failure, context: context)
                continue
            }
            self.sendOutput(context: context, promise: promise, flush: false)
        }
    }

    private func sendOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?, flush: Bool) {
        if let ciphertext = self.connection.takeOutput() {
            context.write(self.wrapOutboundOut(ciphertext), promise: promise)
        } else {
            promise?.succeed(())
        }
        if flush { context.flush() }
    }

    private func failPending(_ error: any Error) {
        let pending = self.pending
        self.pending = []
        self.pendingBytes = 0
        for (_, promise) in pending { promise?.fail(error) }
    }

    private func fail(_ error: TLSError, context: ChannelHandlerContext) {
        guard self.state != .closed else { return }
        self.state = .closed
        self.timer?.cancel()
        // An alert for the peer may be waiting: send it before closing.
        self.sendOutput(context: context, promise: nil, flush: true)
        self.failPending(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
