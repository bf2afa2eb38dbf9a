// Over 500 lines on purpose: one channel's state machine (connect, read, write, close, half-close) shares its private fields; split by facet it would need them internal.
import Synchronization

/// A TCP connection: reads into the pipeline, writes gathered with one `sendmsg`, watermarks,
/// half-close, and a close that fails every pending write.
///
/// Thread-safe as a `Channel` (public operations hop to the loop); all state below is
/// loop-confined. Create one through `ClientBootstrap` or `ServerBootstrap`.
final class SocketChannel: Channel, Selectable, ChannelCore, @unchecked Sendable { // SAFETY: loop-confined state, below
    // SAFETY: every `var` is touched only on `loop`'s thread; cross-thread readers use the
    // atomics and the addresses, written once before `addressesKnown` is set.
    private enum State { case fresh, connecting, active, closed }

    let loop: SelectableEventLoop
    private var pipelineStorage: ChannelPipeline! // SAFETY: assigned at the end of init, before self escapes
    // The small fields together, in the gap after `fd` (a class lays its fields out in the
    // order written): 24 bytes less padding, so an idle server connection's channel fits
    // malloc's 256-byte size instead of 272.
    private var fd: Int32
    /// Its place in the loop's selector, once registered.
    private var registration = SelectorRegistration.none
    private var state = State.fresh
    private var interest: IOEvents = []
    private let activeFlag = Atomic<Bool>(false)
    private let writableFlag = Atomic<Bool>(true)
    private let addressesKnown = Atomic<Bool>(false)
    // Reading
    private var autoRead = true
    private var readPending = false
    private var allowHalfClosure = false
    private var inputClosed = false
    // Writing
    private var flushing = false
    private var waitingForWritable = false
    private var writable = true
    private var outputShutdownRequested = false
    private var outputClosed = false

    // Reading
    private var maxMessagesPerRead = 4
    /// The size of the next read. The buffers themselves are the loop's (`prepareReadBuffer`).
    /// (This and `pending` are touched on every read or write by plain value code that calls
    /// out to nothing while an access is open: the runtime's exclusivity check is off.)
    @exclusivity(unchecked) private var sizer = ReceiveBufferSizer()

    // Writing
    @exclusivity(unchecked) private var pending = PendingWrites()
    private var watermarks = WriteWatermarks.default
    private var outputShutdownPromises: [EventLoopPromise<Void>?] = []

    // Lifecycle
    /// The connect under way, if any (a client's; an accepted socket never has one, and the
    /// promise and timer inline were 32 B of every idle server connection).
    private var connecting: ConnectAttempt?
    /// Made when first asked for: most server connections never are, and it was 80 B of
    /// every idle one. `closeNow` completes it if it exists; one made after is completed then.
    private let lazyCloseFuture = AtomicLazyReference<EventLoopFuture<Void>>()
    /// Written once on the loop, before `addressesKnown` is set, and never again; read from
    /// any thread only after seeing it set. (A lock here cost three allocations, about a
    /// ninth of an idle server connection's memory.)
    private var knownLocalAddress: SocketAddress? // SAFETY: see above
    private var knownRemoteAddress: SocketAddress? // SAFETY: see above

    /// Wraps `fd` (a new socket, or one just accepted), which this channel now owns.
    init(fd: Int32, loop: SelectableEventLoop) {
        self.fd = fd
        self.loop = loop
        self.pipelineStorage = ChannelPipeline(
            channel: self, core: self, eventLoop: loop, readType: ByteBuffer.self, writeType: ByteBuffer.self)
    }

    // MARK: Channel

    var eventLoop: any EventLoop { self.loop }
    var pipeline: ChannelPipeline { self.pipelineStorage }
    var isActive: Bool { self.activeFlag.load(ordering: .acquiring) }
    var isWritable: Bool { self.writableFlag.load(ordering: .acquiring) }
    var localAddress: SocketAddress? { self.addressesKnown.load(ordering: .acquiring) ? self.knownLocalAddress : nil }
    var remoteAddress: SocketAddress? {
        self.addressesKnown.load(ordering: .acquiring) ? self.knownRemoteAddress : nil
    }
    var closeFuture: EventLoopFuture<Void> {
        if let future = self.lazyCloseFuture.load() { return future }
        let future = self.lazyCloseFuture.storeIfNil(EventLoopFuture(eventLoop: self.loop))
        // `closeNow` completes only a future it finds; if it ran before this one was stored,
        // the channel's state says so on the loop.
        if self.loop.inEventLoop {
            self.completeCloseFutureIfClosed(future)
        } else {
            self.loop.execute { self.completeCloseFutureIfClosed(future) }
        }
        return future
    }

    private func completeCloseFutureIfClosed(_ future: EventLoopFuture<Void>) {
        if self.state == .closed { future.complete(.success(())) }
    }

    /// The option's value: the channel's own setting, or the kernel's read back with
    /// `getsockopt`. Loop only.
    func readOption(_ key: ChannelOptionKey) throws -> any Sendable {
        guard self.fd >= 0 || [.autoRead, .allowRemoteHalfClosure, .writeWatermarks, .maxMessagesPerRead].contains(key)
        else {
            throw ChannelError(.ioOnClosedChannel, "cannot read an option of a closed channel")
        }
        func kernel(_ option: SocketOption) throws -> Int { try Posix.getOption(self.fd, option) }
        switch key {
        case .autoRead: return self.autoRead
        case .allowRemoteHalfClosure: return self.allowHalfClosure
        case .writeWatermarks: return self.watermarks
        case .maxMessagesPerRead: return self.maxMessagesPerRead
        case .tcpNoDelay: return try kernel(.noDelay(false)) != 0
        case .keepAlive: return try kernel(.keepAlive(false)) != 0
        case .reuseAddress: return try kernel(.reuseAddress(false)) != 0
        case .reusePort: return try kernel(.reusePort(false)) != 0
        case .lingerSeconds: return try kernel(.linger(seconds: nil))
        case .receiveBufferSize: return try kernel(.receiveBufferSize(0))
        case .sendBufferSize: return try kernel(.sendBufferSize(0))
        case .tcpKeepAlive:
            return TCPKeepAlive(
                idle: .seconds(Int64(try kernel(.keepAliveIdle(0)))),
                interval: .seconds(Int64(try kernel(.keepAliveInterval(0)))),
                count: try kernel(.keepAliveCount(0)))
        case .tcpUserTimeout: return TimeAmount.milliseconds(Int64(try kernel(.userTimeout(0))))
        case .tcpNotSentLowWatermark: return try kernel(.notSentLowWatermark(0))
        case .ipTypeOfService: return try kernel(.typeOfService(0, ipv6: Posix.localAddress(self.fd)?.isIPv6 ?? false))
        case .datagramReceiveSize, .datagramStatistics, .datagramSegmentSize, .datagramReceiveOffload,
            .datagramSegmentsInUserSpace:
            throw ChannelError(.unsupportedOperation, "a TCP channel has no option \(key)")
        }
    }

    /// Applies an option on the loop (also used by the bootstraps before activation).
    func applyOption(_ key: ChannelOptionKey, _ value: Any) throws {
        func bool() -> Bool { value as? Bool ?? false }
        func int() -> Int { value as? Int ?? 0 }
        switch key {
        case .autoRead:
            self.autoRead = bool()
            self.updateInterest()
        case .allowRemoteHalfClosure: self.allowHalfClosure = bool()
        case .writeWatermarks:
            if let marks = value as? WriteWatermarks { self.watermarks = marks }
            self.updateWritability()
        case .maxMessagesPerRead: self.maxMessagesPerRead = max(1, int())
        case .tcpNoDelay: try self.setSocketOption(.noDelay(bool()))
        case .keepAlive: try self.setSocketOption(.keepAlive(bool()))
        case .reuseAddress: try self.setSocketOption(.reuseAddress(bool()))
        case .reusePort: try self.setSocketOption(.reusePort(bool()))
        case .lingerSeconds: try self.setSocketOption(.linger(seconds: int() < 0 ? nil : Int32(clamping: int())))
        case .receiveBufferSize: try self.setSocketOption(.receiveBufferSize(Int32(clamping: int())))
        case .sendBufferSize: try self.setSocketOption(.sendBufferSize(Int32(clamping: int())))
        case .tcpKeepAlive:
            guard let keepAlive = value as? TCPKeepAlive else { return }
            // Whole seconds, rounded up: a 500 ms interval must not become "0: the default".
            func seconds(_ amount: TimeAmount) -> Int32 { Int32(clamping: max(1, amount.roundedUp(to: 1_000_000_000))) }
            try self.setSocketOption(.keepAlive(true))
            try self.setSocketOption(.keepAliveIdle(seconds(keepAlive.idle)))
            try self.setSocketOption(.keepAliveInterval(seconds(keepAlive.interval)))
            try self.setSocketOption(.keepAliveCount(Int32(clamping: max(1, keepAlive.count))))
        case .tcpUserTimeout:
            guard let timeout = value as? TimeAmount else { return }
            try self.setSocketOption(.userTimeout(UInt32(clamping: max(0, timeout.roundedUp(to: 1_000_000)))))
        case .tcpNotSentLowWatermark: try self.setSocketOption(.notSentLowWatermark(Int32(clamping: int())))
        case .ipTypeOfService:
            guard self.fd >= 0, let local = Posix.localAddress(self.fd), local.unixDomainSocketPath == nil else {
                return // a Unix-domain socket has no IP header
            }
            try self.setSocketOption(.typeOfService(Int32(clamping: int()), ipv6: local.isIPv6))
        case .datagramReceiveSize, .datagramStatistics, .datagramSegmentSize, .datagramReceiveOffload,
            .datagramSegmentsInUserSpace:
            throw ChannelError(.unsupportedOperation, "a TCP channel has no option \(key)")
        }
    }

    private func setSocketOption(_ option: SocketOption) throws {
        guard self.fd >= 0 else { throw ChannelError(.ioOnClosedChannel, "cannot set an option on a closed channel") }
        try Posix.setOption(self.fd, option)
    }

    // MARK: Lifecycle

    /// Registers with the loop's selector. Loop only.
    func register() throws {
        self.registration = try self.loop.selector.register(self, fd: self.fd, interest: .edgeTriggered)
        self.interest = .edgeTriggered
    }

    /// Starts connecting to `address`; the promise completes when connected or failed.
    func connect(to address: SocketAddress, timeout: TimeAmount, promise: EventLoopPromise<Void>) {
        self.state = .connecting
        let attempt = ConnectAttempt(promise: promise)
        self.connecting = attempt
        do {
            if try Posix.connect(self.fd, to: address) {
                self.becomeActive()
                return
            }
        } catch {
            self.closeNow(error: error, reportError: false)
            return
        }
        self.updateInterest()
        attempt.timeout = self.loop.scheduleTask(in: timeout) { [self] in
            guard self.state == .connecting else { return }
            self.closeNow(
                error: ChannelError(.connectTimeout, "connect to \(address) timed out after \(timeout)"),
                reportError: false)
        }
    }

    /// Marks an accepted (already connected) socket active. Loop only.
    func becomeActive() {
        self.state = .active
        // Known before the channel reads as active.
        if !self.addressesKnown.load(ordering: .relaxed) {
            self.knownLocalAddress = Posix.localAddress(self.fd)
            self.knownRemoteAddress = Posix.remoteAddress(self.fd)
            self.addressesKnown.store(true, ordering: .releasing)
        }
        self.activeFlag.store(true, ordering: .releasing)
        self.connecting?.cancelTimeout()
        self.updateInterest()
        self.pipeline.fireChannelActive()
        // Still set unless a handler closed the channel when it became active (which failed it).
        if let attempt = self.connecting {
            self.connecting = nil
            attempt.promise.succeed(())
        }
    }

    func closeForShutdown() {
        self.closeNow(error: ChannelError(.eventLoopShutdown, "the event loop is shutting down"), reportError: false)
    }

    private var wantsRead: Bool {
        self.state == .active && !self.inputClosed && (self.autoRead || self.readPending)
    }

    private func updateInterest() {
        guard self.fd >= 0, self.state != .fresh, self.state != .closed else { return }
        var wanted: IOEvents = []
        if self.wantsRead { wanted.formUnion([.read, .readHangup]) }
        if self.waitingForWritable || self.state == .connecting { wanted.insert(.write) }
        if wanted.isEmpty { wanted = .edgeTriggered }
        guard wanted != self.interest else { return }
        do {
            try self.loop.selector.reregister(self.registration, fd: self.fd, interest: wanted)
            self.interest = wanted
        } catch {
            self.closeNow(error: error, reportError: true)
        }
    }

    // MARK: Readiness

    func ready(_ events: IOEvents) {
        switch self.state {
        case .connecting:
            self.finishConnect()
        case .active:
            if events.contains(.write) {
                self.flushNow()
            }
            guard self.state == .active, !events.isDisjoint(with: [.read, .readHangup, .hangup, .error]) else { return }
            if self.wantsRead {
                self.readFromSocket()
            } else if !events.isDisjoint(with: [.hangup, .error]), let error = try? Posix.pendingError(self.fd) {
                self.closeNow(error: error, reportError: true)
            }
        case .fresh, .closed:
            break
        }
    }

    private func finishConnect() {
        do {
            if let error = try Posix.pendingError(self.fd) {
                self.closeNow(error: error, reportError: false)
                return
            }
        } catch {
            self.closeNow(error: error, reportError: false)
            return
        }
        self.becomeActive()
    }

    /// Runs `body` with the pipeline borrowed rather than retained (the implicitly unwrapped
    /// `var` was retained and released per read event).
    @inline(__always)
    private func withPipeline<Result>(_ body: (ChannelPipeline) -> Result) -> Result {
        // SAFETY: `pipelineStorage` is assigned once, at the end of `init`, and never again;
        // this channel holds it, and the caller holds this channel.
        Unmanaged.passUnretained(self.pipelineStorage)._withUnsafeGuaranteedRef(body)
    }

    private func readFromSocket() {
        // Marked for an async channel's handler: a consumer it resumes now runs at this
        // burst's `channelReadComplete` (see `SelectableEventLoop.capturingResumedJob`).
        let outer = self.loop.channelInReadBurst
        self.loop.channelInReadBurst = ObjectIdentifier(self)
        defer { self.loop.channelInReadBurst = outer }
        var reads = 0
        var reachedEnd = false
        var buffer = ByteBuffer()
        reading: while reads < self.maxMessagesPerRead, self.wantsRead {
            let size = self.sizer.size
            self.loop.prepareReadBuffer(&buffer, size: size)
            var result = IOResult<Int>.wouldBlock
            do {
                let fd = self.fd
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { space in
                    result = try Posix.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: space.prefix(size)))
                    if case .processed(let count) = result { return count }
                    return 0
                }
            } catch {
                self.loop.recycleReadBuffer(&buffer)
                self.closeNow(error: error, reportError: true)
                return
            }
            switch result {
            case .wouldBlock:
                break reading
            case .processed(0):
                reachedEnd = true
                break reading
            case .processed(let count):
                reads += 1
                self.sizer.record(bytesRead: count)
                self.withPipeline { $0.fireChannelRead(PipelineMessage(buffer)) }
                // A short read emptied the socket: skip the read that would say EAGAIN.
                if count < size { break reading }
            }
        }
        if !self.autoRead { self.readPending = false }
        if reads > 0, self.state == .active { self.withPipeline { $0.fireChannelReadComplete() } }
        // Back to the loop unless the pipeline kept it: an idle channel holds no read buffer.
        // After the read-complete event, whose flush usually releases a buffer that a handler
        // wrote back (an echo), so that it too is reused.
        self.loop.recycleReadBuffer(&buffer)
        if reachedEnd, self.state == .active {
            self.inputDidClose()
        }
        self.updateInterest()
    }

    private func inputDidClose() {
        self.inputClosed = true
        if self.allowHalfClosure, !self.outputClosed {
            self.updateInterest()
            self.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        } else {
            self.closeNow(error: nil, reportError: false)
        }
    }

    // MARK: ChannelCore (loop only)

    func write0(_ data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        self.eventLoop.assertInEventLoop()
        guard self.state == .active || self.state == .connecting else {
            promise?.fail(ChannelError(.ioOnClosedChannel, "write on a closed channel"))
            return
        }
        guard !self.outputClosed, !self.outputShutdownRequested else {
            promise?.fail(ChannelError(.outputClosed, "write after the output was shut down"))
            return
        }
        guard let buffer = data.buffer else {
            promise?.fail(PipelineError(.typeMismatch, "a socket writes ByteBuffer, not \(data.typeDescription)"))
            return
        }
        self.pending.borrowStorage(from: &self.loop.spareWriteQueue)
        self.pending.append(buffer, promise: promise)
        self.updateWritability()
    }

    func flush0() {
        self.eventLoop.assertInEventLoop()
        self.pending.markFlushed()
        if self.state == .active, !self.waitingForWritable {
            self.flushNow()
        }
    }

    func setAutoRead0(_ enabled: Bool) {
        guard self.autoRead != enabled else { return }
        self.autoRead = enabled
        self.updateInterest()
    }

    func read0() {
        self.eventLoop.assertInEventLoop()
        guard self.state == .active, !self.autoRead, !self.readPending else { return }
        self.readPending = true
        self.updateInterest()
    }

    func close0(mode: CloseMode, promise: EventLoopPromise<Void>?) {
        self.eventLoop.assertInEventLoop()
        switch mode {
        case .all:
            self.closeNow(error: nil, reportError: false, promise: promise)
        case .output:
            guard self.state == .active else {
                promise?.fail(
                    ChannelError(.ioOnClosedChannel, "cannot shut down the output of a channel that is not active"))
                return
            }
            if self.outputClosed {
                promise?.succeed(())
                return
            }
            self.outputShutdownPromises.append(promise)
            self.outputShutdownRequested = true
            self.pending.markFlushed()
            self.flushNow()
        case .input:
            guard self.state == .active else {
                promise?.fail(
                    ChannelError(.ioOnClosedChannel, "cannot shut down the input of a channel that is not active"))
                return
            }
            if !self.inputClosed {
                do { try Posix.shutdown(self.fd, output: false, input: true) } catch {
                    promise?.fail(error)
                    return
                }
                self.inputClosed = true
                self.updateInterest()
            }
            promise?.succeed(())
        }
    }

    func userOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(
            ChannelError(.unsupportedOperation, "a socket channel takes no outbound event \(type(of: event))"))
    }

    func unhandledInbound(_ data: PipelineMessage) {}
    func unhandledError(_ error: any Error) {}

    // MARK: Writing

    private func flushNow() {
        guard !self.flushing else { return }
        self.flushing = true
        defer { self.flushing = false }
        self.waitingForWritable = false
        var attempts = 0
        while self.state == .active, self.pending.hasFlushed {
            // Yield after a few full writes so one fast writer cannot starve the loop.
            attempts += 1
            if attempts > 16 {
                self.waitingForWritable = true
                break
            }
            let result: IOResult<Int>
            do {
                result = try self.pending.write(to: self.fd, using: self.loop.ioVectors)
            } catch {
                self.closeNow(error: error, reportError: true)
                return
            }
            guard case .processed(let written) = result else {
                self.waitingForWritable = true
                break
            }
            // Taken from the loop (and the loop left with an empty one) so that a promise
            // callback flushing another channel cannot touch this list.
            var completed: [EventLoopPromise<Void>?] = []
            swap(&completed, &self.loop.spareCompletedWrites)
            self.pending.consume(written, completed: &completed) { self.loop.offerReadBuffer(&$0) }
            self.pending.returnStorage(to: &self.loop.spareWriteQueue)
            // Promises first: a handler reacting to writability sees its writes completed.
            for promise in completed { promise?.succeed(()) }
            self.updateWritability()
            completed.removeAll(keepingCapacity: true)
            swap(&completed, &self.loop.spareCompletedWrites)
        }
        guard self.state == .active else { return }
        self.updateInterest()
        if self.outputShutdownRequested, self.pending.isEmpty {
            self.shutdownOutput()
        }
    }

    private func updateWritability() {
        let buffered = self.pending.bufferedBytes
        if self.writable, buffered > self.watermarks.high {
            self.writable = false
            self.writableFlag.store(false, ordering: .releasing)
            self.pipeline.fireChannelWritabilityChanged()
        } else if !self.writable, buffered <= self.watermarks.low {
            self.writable = true
            self.writableFlag.store(true, ordering: .releasing)
            self.pipeline.fireChannelWritabilityChanged()
        }
    }

    private func shutdownOutput() {
        self.outputShutdownRequested = false
        do {
            try Posix.shutdown(self.fd, output: true, input: false)
        } catch {
            self.closeNow(error: error, reportError: true)
            return
        }
        self.outputClosed = true
        let promises = self.outputShutdownPromises
        self.outputShutdownPromises = []
        for promise in promises { promise?.succeed(()) }
        self.pipeline.fireUserInboundEventTriggered(ChannelEvent.outputClosed)
        if self.inputClosed, self.state == .active {
            self.closeNow(error: nil, reportError: false)
        }
    }

    // MARK: Closing

    /// Closes the socket: fails pending writes, reports `error` (if asked), fires
    /// `channelInactive`, tears the pipeline down, completes `closeFuture`.
    private func closeNow(error: (any Error)?, reportError: Bool, promise: EventLoopPromise<Void>? = nil) {
        guard self.state != .closed else {
            promise?.succeed(())
            return
        }
        let wasActive = self.state == .active
        self.state = .closed
        self.activeFlag.store(false, ordering: .releasing)
        self.connecting?.cancelTimeout()
        if self.fd >= 0 {
            self.loop.selector.deregister(self.registration, fd: self.fd)
            Posix.close(self.fd)
            self.fd = -1
        }
        let failure = ChannelError(
            .ioOnClosedChannel,
            error == nil ? "the channel closed before the write completed" : "the channel closed because of an error",
            cause: error)
        let writes = self.pending.removeAll() + self.outputShutdownPromises
        self.outputShutdownPromises = []
        for write in writes { write?.fail(failure) }
        if let attempt = self.connecting {
            self.connecting = nil
            attempt.promise.fail(error ?? failure)
        }
        if let error, reportError { self.pipeline.fireErrorCaught(error) }
        if wasActive { self.pipeline.fireChannelInactive() }
        self.pipeline.tearDown()
        promise?.succeed(())
        self.lazyCloseFuture.load()?.complete(.success(()))
    }
}
